#!/usr/bin/env bash
# Voice in, end to end: each plugin's eval set typed, then spoken by espeak-ng in two voices and
# recognized by the embedded Whisper base (int8, beam 5, VAD), answered by the default adapters.
# Usage: benchmarks/voice.sh ADAPTERS_DIR [OUT_DIR] [more `bijou devices eval` options]
# ADAPTERS_DIR holds airpods-pro/, omi/, rayban-stories/ from `bijou devices train DEVICE`.
# Writes OUT_DIR/DEVICE.{md,json} (default benchmarks/voice), then the table benchmarks/voice.md
# from every results file under benchmarks/voice/.
#   benchmarks/voice.sh adapters
#   benchmarks/voice.sh adapters benchmarks/voice/vocabulary-prompt --stt-vocabulary
#   benchmarks/voice.sh adapters benchmarks/voice/noise --noise pink:10 --noise white:5
set -euo pipefail
cd "$(dirname "$0")/.."
adapters=$1 out=${2:-benchmarks/voice}
shift $(( $# > 1 ? 2 : 1 ))
for device in airpods-pro omi rayban-stories; do
  .venv/bin/bijou devices eval "$device" --adapter "$adapters/$device" --speech "$@" \
    --markdown "$out/$device.md" --output "$out/$device.json"
done
.venv/bin/python benchmarks/voice_table.py
