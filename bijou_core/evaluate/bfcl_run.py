"""Running a model on BFCL entries with bijou's prompt format (for ``bijou eval bfcl --model``)."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.progress import Progress

from ..calls import parse
from ..prompt import PromptFormat
from ..runtime.hf_engine import HFModel
from .bfcl import Entry, Prediction


def predict(
    model_name: str, entries: list[Entry], adapter: Path | None = None
) -> tuple[dict[str, Prediction], dict[str, str]]:
    """Greedy answers of ``model_name`` (plus ``adapter``) to each entry, parsed as calls."""
    model = HFModel(model_name, {"bfcl": adapter} if adapter else None)
    model.use("bfcl" if adapter else None)
    fmt = PromptFormat.for_tokenizer(model.tokenizer, "full")
    predictions, texts = {}, {}
    with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("BFCL", total=len(entries))
        for index, entry in enumerate(entries, start=1):
            text = model.generate(
                fmt.prompt(model.tokenizer, entry.functions, entry.query), fmt.end_text
            ).text
            predictions[entry.id] = Prediction(index, parse(text))
            texts[entry.id] = text
            progress.advance(task)
    return predictions, texts
