#!/usr/bin/env bash
# Set up bijou in ./.venv: the core, the three device plugins and the test tools.
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
pip install -e ".[test]" \
  -e plugins/bijou-airpods-pro -e plugins/bijou-omi -e plugins/bijou-rayban-stories
echo "bijou is set up in .venv ($(.venv/bin/bijou --version))"
