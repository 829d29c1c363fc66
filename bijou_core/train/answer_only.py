"""A small SFTTrainer subclass: answer-only vocabulary scores, and a shared prompt prefix run once.

TRL's fused LM head restricts the vocabulary projection to the positions that carry a label only on
Triton devices (CUDA, XPU). Elsewhere, a CPU included, it projects every position, prompt included,
in fp32, which is most of the cost of a short-answer step. On those devices this trainer runs the
model's decoder (``get_decoder()``), gathers the hidden states of exactly the positions that predict
an answer token, example by example, and projects only those through the output embeddings
(``get_output_embeddings()``); it takes the same loss as TRL (the summed negative log-likelihood of
the answer tokens over the number of answer tokens in the optimizer step). Under DDP the model's own
forward must run (it drives gradient synchronisation), so there it passes ``logits_to_keep``: the
positions that predict an answer token in any example of the batch. On Triton devices it defers to
TRL unchanged.

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
        start, cache = 0, None
        if self._prefix_applies(input_ids):
            start = len(self.shared_prefix)
            cache = model(input_ids=input_ids[:1, :start], use_cache=True).cache
            cache.batch_repeat_interleave(input_ids.shape[0])
        forward = {
            "input_ids": input_ids[:, start:],
            "attention_mask": mask,
            "cache": cache,
            "use_cache": start > 0,
        }
        targets = labels[:, start + 1 :]  # the token each remaining position predicts
        valid = targets != -100
        if self.accelerator.num_processes > 1:
            positions = valid.any(dim=0).nonzero().squeeze(-1)
            logits = model(**forward, logits_to_keep=positions).logits
            targets, valid = targets[:, positions], valid[:, positions]
        else:
            hidden = model.get_decoder()(**forward).last_hidden_state[:, :-1]
            logits = model.get_output_embeddings()(hidden[valid])
            cap = getattr(model.config, "final_logit_softcapping", None)
            if cap:
                logits = torch.tanh(logits / cap) * cap
            targets, valid = targets[valid], valid[valid]
        nll = F.cross_entropy(logits.float().flatten(0, -2), targets.flatten(), reduction="sum")
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
