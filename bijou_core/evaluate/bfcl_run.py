"""Running a model on BFCL entries with bijou's prompt format (for ``bijou eval bfcl --model``)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.progress import Progress

from ..calls import parse
from ..prompt import PromptFormat
from ..runtime.decoding import generate
from ..runtime.hf_backend import HFBackend
from .bfcl import Entry, Prediction


def predict(
    model_name: str, entries: list[Entry], adapter: Path | None = None
) -> tuple[dict[str, Prediction], dict[str, str]]:
    """Greedy answers of ``model_name`` (plus ``adapter``) to each entry, parsed as calls."""
    model = HFBackend(model_name, {"bfcl": adapter} if adapter else None)
    model.use("bfcl" if adapter else None)
    fmt = PromptFormat.for_tokenizer(model.tokenizer, "full")
    model.add_end_token(fmt.end_text)
    predictions, texts = {}, {}
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("BFCL", total=len(entries))
        for index, entry in enumerate(entries, start=1):
            text = generate(model, fmt.prompt(model.tokenizer, entry.functions, entry.query)).text
            predictions[entry.id] = Prediction(index, parse(text))
            texts[entry.id] = text
            progress.advance(task)
    return predictions, texts
