"""Multi-process training through accelerate: two CPU processes (gloo) train one model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_two_cpu_processes_train_one_model(tiny_model_dir, tmp_path):
    script = Path(__file__).with_name("ddp_train.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # --multi_gpu selects accelerate's multi-process (torchrun) launcher; without a GPU each process
    # trains on the CPU and the Trainer's accelerate state joins them with gloo
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += [
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        "29517",
    ]
    done = subprocess.run(
        [*launch, str(script), str(tiny_model_dir), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert [r["backend"] for r in reports] == ["gloo", "gloo"]
    # 32 examples, 4 per process and step, 2 processes: 4 steps, each rank seeing its half
    assert [r["steps"] for r in reports] == [4, 4]
    assert reports[0]["lora"] == reports[1]["lora"]
