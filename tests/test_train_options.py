"""The training commands' flags are derived from TrainSettings: one declaration per setting."""

from __future__ import annotations

from dataclasses import fields

import pytest
from click.testing import CliRunner

from bijou_core.cli import main
from bijou_core.errors import BijouError
from bijou_core.train.sft import TrainSettings

COMMANDS = {  # each command's own defaults (README, the guide); the rest are TrainSettings'
    ("devices", "train"): {"num_epochs": 1, "batch_size": 8, "learning_rate": 1e-3, "max_seq_length": 1024}
    | {"lora_r": 32},
    ("base", "train"): {"num_epochs": 3, "batch_size": 4, "learning_rate": 2e-4, "max_seq_length": 1024},
}


def params(path: tuple[str, ...]) -> dict:
    command = main
    for name in path:
        command = command.commands[name]
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("path", COMMANDS)
def test_every_setting_is_a_flag_with_its_declared_help_and_default(path):
    found = params(path)
    for setting in fields(TrainSettings):
        if not setting.metadata.get("cli", True):  # each command names its own (--base, --output-dir)
            continue
        flag = setting.metadata.get("flag", "--" + setting.name.replace("_", "-"))
        param = found[flag[2:].replace("-", "_")]
        assert flag in param.opts and param.help == setting.metadata["help"]
        if "_" in param.name and not param.secondary_opts:  # not a --x/--no-x switch
            assert "--" + param.name in param.opts  # the guide's spelling (--num_epochs)
        if param.is_flag and not param.secondary_opts:  # --resume: off unless given
            assert setting.default is False
            continue
        default = COMMANDS[path].get(setting.name, setting.default)
        assert param.default == (",".join(default) if isinstance(default, tuple) else default)


def test_flags_and_config_keys_reach_the_settings(lamp_cli, tmp_path, monkeypatch):
    seen = {}

    def train_device(device, settings, *args):  # stands in for training: records what it was given
        seen["settings"] = settings
        raise BijouError("stop here")

    monkeypatch.setattr("bijou_core.train.device.train_device", train_device)
    config = tmp_path / "config.yaml"
    config.write_text("learning_rate: 0.01\nlora_targets: [q_proj, v_proj]\n")
    args = ["devices", "train", "lamp", "--output-dir", str(tmp_path / "out"), "--config", str(config)]
    args += ["--num_epochs", "3", "--lora-r", "4", "--no-pack-batches", "--resume", "--precision", "fp32"]
    result = CliRunner().invoke(main, [*args, "--max-steps", "5", "--neftune-noise-alpha", "5"])
    assert "stop here" in result.output
    assert seen["settings"] == TrainSettings(
        model_name="smollm2-135m",
        output_dir=tmp_path / "out",
        num_epochs=3.0,
        learning_rate=0.01,
        max_seq_length=1024,
        lora_r=4,
        target_modules=("q_proj", "v_proj"),
        pack_batches=False,
        resume=True,
        precision="fp32",
        max_steps=5,
        neftune_noise_alpha=5.0,
    )
    bad = CliRunner().invoke(main, [*args[:5], "--precision", "fp64", "--lora-dropout", "1"])
    assert bad.exit_code == 2 and "'fp64' is not one of 'auto', 'bf16', 'bf16-base', 'fp32'" in bad.output
