"""Random LoRA adapters on the tiny in-test Llama, with the manifest ``bijou devices train`` writes."""

from __future__ import annotations

from pathlib import Path

from bijou_core.devices import DeviceRegistry
from bijou_core.manifest import Manifest, write_manifest


def write_random_adapters(
    folder: Path, tiny_model_dir: Path, registry: DeviceRegistry, devices: list[str]
) -> Path:
    """One random (seeded) adapter per device in ``folder/DEVICE``: their answers are nonsense, which
    makes them good witnesses (any state one leaves behind changes another's text)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    for seed, device in enumerate(devices):
        torch.manual_seed(seed)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(tiny_model_dir),
            LoraConfig(r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False),
        )
        model.save_pretrained(folder / device)
        write_manifest(
            folder / device,
            Manifest.from_json(
                {
                    "kind": "adapter",
                    "device": device,
                    "tools_hash": registry.get(device).tools_hash,
                    "base_model": {"name": str(tiny_model_dir), "source": str(tiny_model_dir)},
                    "prompt_format": {
                        "version": 1,
                        "style": "compact",
                        "device": device,
                        "chat_template": False,
                    },
                }
            ),
        )
    return folder
