#!/usr/bin/env bash
# Train each shipped device's adapter with the defaults on the embedded model, timed, then score
# base against base+adapter on the plugin's hand-written eval set. Results: benchmarks/adapters/.
#   bash benchmarks/adapters.sh [DEVICE...]
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/adapters
mkdir -p "$out"
devices=("$@")
[ ${#devices[@]} -gt 0 ] || devices=(airpods-pro omi rayban-stories)
for device in "${devices[@]}"; do
  start=$(date +%s)
  .venv/bin/bijou devices train "$device" --output-dir "adapters/$device"
  end=$(date +%s)
  echo "$device: bijou devices train (defaults, embedded model) (training and its eval) took $((end - start)) s wall clock" \
    | tee "$out/$device-train-time.txt"
  .venv/bin/bijou devices eval "$device" --adapter "adapters/$device" --compare \
    --output "$out/$device.json" --markdown "$out/$device.md" --chart "$out/$device.png"
done
