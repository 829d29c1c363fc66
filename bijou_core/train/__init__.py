"""Fine-tuning with TRL + PEFT: the base model on function-calling data, device LoRA adapters."""
