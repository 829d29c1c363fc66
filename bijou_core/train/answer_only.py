"""A small SFTTrainer subclass: answer-only vocabulary scores, and a shared prompt prefix run once.

TRL's fused LM head restricts the vocabulary projection to the positions that carry a label only on
Triton devices (CUDA, XPU). Elsewhere, a CPU included, it projects every position, prompt included,
in fp32, which is most of the cost of a short-answer step. On those devices this trainer runs the
model's own forward with ``logits_to_keep`` set to the positions that predict an answer token, and
takes the same loss as TRL (the summed negative log-likelihood of the answer tokens over the number
of answer tokens in the optimizer step). On Triton devices it defers to TRL unchanged.

With ``shared_prefix`` (the token ids every example starts with, e.g. a device's system prompt
listing its tools), the prefix runs once per batch and its key/value cache is repeated for every
example. The forward is the same function of the same weights, so the loss and the gradients are
those of plain training (up to floating-point rounding), at the cost of the examples' own tokens.
Single-process only: under DDP a second forward per step would break gradient bucketing, so the
prefix is then run per example as usual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer


class AnswerOnlySFTTrainer(SFTTrainer):
    """SFTTrainer scoring only answer positions off Triton devices, optionally sharing a prefix."""

    def __init__(self, *args, shared_prefix: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.shared_prefix = torch.tensor(shared_prefix) if shared_prefix else None

    def _prefix_applies(self, input_ids: torch.Tensor) -> bool:
        prefix = self.shared_prefix
        if prefix is None or self.accelerator.num_processes > 1 or input_ids.shape[1] <= len(prefix):
            return False
        return bool((input_ids[:, : len(prefix)] == prefix.to(input_ids.device)).all())

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.accelerator.device.type in ("cuda", "xpu") or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        input_ids, labels, mask = inputs["input_ids"], inputs["labels"], inputs["attention_mask"]
        targets_all = labels[:, 1:]
        positions = (targets_all != -100).any(dim=0).nonzero().squeeze(-1)
        start = 0
        forward = {"input_ids": input_ids, "attention_mask": mask}
        if self._prefix_applies(input_ids):
            start = len(self.shared_prefix)
            cache = model(input_ids=input_ids[:1, :start], use_cache=True).cache
            cache.batch_repeat_interleave(input_ids.shape[0])
            forward = {"input_ids": input_ids[:, start:], "attention_mask": mask, "cache": cache}
            positions = positions[positions >= start]
        logits = model(**forward, use_cache=start > 0, logits_to_keep=positions - start).logits
        targets = targets_all[:, positions]
        valid = targets != -100
        nll = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
        count = valid.sum() if num_items_in_batch is None else num_items_in_batch
        loss = nll / torch.as_tensor(count, device=nll.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        self._log_metrics(model, logits, targets, valid, mask)
        return loss

    @torch.no_grad()
    def _log_metrics(self, model, logits, targets, valid, mask) -> None:
        mode = "train" if model.training else "eval"
        correct = ((logits.argmax(-1) == targets) & valid).sum()
        n_valid = self.accelerator.gather_for_metrics(valid.sum()).sum()
        n_correct = self.accelerator.gather_for_metrics(correct).sum()
        self._metrics[mode]["mean_token_accuracy"].append((n_correct / n_valid.clamp(min=1)).item())
        if mode == "train":
            self._total_train_tokens += self.accelerator.gather_for_metrics(mask.sum()).sum().item()
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
