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

With ``pack=True`` (single process, off Triton devices, SDPA or eager attention) the padding goes
too: the examples' own tokens are laid end to end in rows of up to ``ROW_TOKENS``, each attending
to the shared prefix and to the earlier tokens of its own example only (a block-diagonal causal 4D
attention mask, which transformers takes as given), at its own positions (``position_ids``). Same
loss and gradients as the padded batch; padding is about a third of a random batch of short
commands, which fits in one row.

With ``decision_weight`` w, the loss of each answer's first :data:`DECISION_TOKENS` tokens (where
the model chooses between ``[]`` and a call) counts w times: a no-call answer is two or three
tokens against a call's twenty, so with every token alike the choice itself is a small share of
the loss. The normalization stays the number of answer tokens, so w = 1 is plain training. It
needs the loss computed here, so on Triton devices a weight other than 1 takes this path too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from trl import SFTTrainer

DECISION_TOKENS = 2
"""An answer's first tokens: ``[`` then ``]`` or ``{"`` for SmolLM2; ``[]`` or ``[{`` for Gemma."""


class AnswerOnlySFTTrainer(SFTTrainer):
    """SFTTrainer scoring only answer positions off Triton devices, optionally sharing a prefix."""

    def __init__(
        self,
        *args,
        shared_prefix: list[int] | None = None,
        pack: bool = False,
        decision_weight: float = 1.0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.shared_prefix = torch.tensor(shared_prefix) if shared_prefix else None
        self.pack = pack
        self.decision_weight = decision_weight

    def _packs(self, model, mask: torch.Tensor) -> bool:
        """Whether this batch can go in packed rows: right padding, an attention implementation
        that takes a custom 4D mask, and no example longer than a sliding-window layer sees (the
        packed mask, which every layer takes as given, has no window)."""
        if not self.pack or getattr(model.config, "_attn_implementation", None) not in ("sdpa", "eager"):
            return False
        windowed = "sliding_attention" in (getattr(model.config, "layer_types", None) or ())
        if windowed and mask.shape[1] > model.config.sliding_window:
            return False
        lengths = mask.sum(1, keepdim=True)
        return bool((mask.bool() == (torch.arange(mask.shape[1], device=mask.device) < lengths)).all())

    def _prefix_applies(self, input_ids: torch.Tensor) -> bool:
        prefix = self.shared_prefix
        if prefix is None or self.accelerator.num_processes > 1 or input_ids.shape[1] <= len(prefix):
            return False
        return bool((input_ids[:, : len(prefix)] == prefix.to(input_ids.device)).all())

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        triton = self.accelerator.device.type in ("cuda", "xpu")
        if (triton and self.decision_weight == 1) or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        input_ids, labels, mask = inputs["input_ids"], inputs["labels"], inputs["attention_mask"]
        if self.accelerator.num_processes > 1:
            targets = labels[:, 1:]  # the token each position but the last predicts
            positions = (targets != -100).any(dim=0).nonzero().squeeze(-1)
            logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=positions).logits
            decision = decision_positions(targets != -100)[:, positions]
            targets = targets[:, positions]
            valid = targets != -100
        else:
            start = len(self.shared_prefix) if self._prefix_applies(input_ids) else 0
            cache = model(input_ids=input_ids[:1, :start], use_cache=True).cache if start else None
            if self._packs(model, mask):
                forward, targets = _packed(model, input_ids, labels, mask, start)
            else:
                forward = {"input_ids": input_ids[:, start:], "attention_mask": mask}
                targets = F.pad(labels[:, start + 1 :], (0, 1), value=-100)  # the last predicts nothing
            if cache is not None:
                cache.batch_repeat_interleave(forward["input_ids"].shape[0])
            hidden = model.get_decoder()(**forward, cache=cache, use_cache=start > 0).last_hidden_state
            valid = targets != -100
            logits = model.get_output_embeddings()(hidden[valid])
            cap = getattr(model.config, "final_logit_softcapping", None)
            if cap:
                logits = torch.tanh(logits / cap) * cap
            decision = decision_positions(valid)[valid]
            targets, valid = targets[valid], valid[valid]
        losses = F.cross_entropy(logits.float().flatten(0, -2), targets.flatten(), reduction="none")
        nll = (losses * torch.where(decision.flatten(), self.decision_weight, 1.0)).sum()
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


def decision_positions(valid: torch.Tensor) -> torch.Tensor:
    """Which of ``valid`` (rows of targets, True where a position predicts an answer token) predict
    one of an answer's first :data:`DECISION_TOKENS` tokens: the start of each run of answer
    positions, so a packed row's examples each have their own."""
    index = torch.arange(valid.shape[-1], device=valid.device).expand_as(valid)
    starts = valid & ~F.pad(valid[..., :-1], (1, 0), value=False)
    run_start = torch.where(starts, index, 0).cummax(-1).values
    return valid & (index - run_start < DECISION_TOKENS)


ROW_TOKENS = 1024
"""A packed row's length: attention scores grow with its square (a longer example gets a row of
its own), so a batch of long prompts (base training on xLAM) packs into several rows."""


def _rows(lengths: list[int]) -> list[list[int]]:
    """The examples (indices, in order) of each packed row."""
    rows: list[list[int]] = []
    used = 0
    for i, n in enumerate(lengths):
        if rows and used + n <= ROW_TOKENS:
            rows[-1].append(i)
            used += n
        else:
            rows.append([i])
            used = n
    return rows


def _packed(model, input_ids, labels, mask, start: int) -> tuple[dict, torch.Tensor]:
    """The decoder inputs that lay a right-padded batch's examples (after a ``start``-token shared
    prefix) end to end in rows, and the token each position predicts."""
    lengths = (mask.sum(1) - start).tolist()
    rows = _rows(lengths)
    width = max(sum(lengths[i] for i in row) for row in rows)
    ids = input_ids.new_zeros(len(rows), width)
    targets = labels.new_full((len(rows), width), -100)
    example = torch.full((len(rows), width), -1, device=ids.device)  # -1: a row's padding
    offset = torch.zeros(len(rows), width, dtype=torch.long, device=ids.device)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = lengths[i]
            ids[r, at : at + n] = input_ids[i, start : start + n]
            targets[r, at : at + n - 1] = labels[i, start + 1 : start + n]  # its last predicts nothing
            example[r, at : at + n] = i
            offset[r, at : at + n] = torch.arange(n, device=ids.device)
            at += n
    same = (example[:, :, None] == example[:, None, :]) & (example[:, :, None] >= 0)
    seen = same & (offset[:, :, None] >= offset[:, None, :])
    seen |= torch.eye(width, dtype=torch.bool, device=ids.device)  # padding sees itself, never nothing
    seen = torch.cat([seen.new_ones(len(rows), width, start), seen], dim=2)[:, None]
    if model.config._attn_implementation == "eager":  # eager adds the mask to the scores
        seen = torch.zeros(seen.shape, device=ids.device).masked_fill(~seen, torch.finfo(torch.float32).min)
    return {"input_ids": ids, "attention_mask": seen, "position_ids": start + offset}, targets
