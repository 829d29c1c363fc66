"""The manifest written beside every adapter or model bijou trains: what it is and how it was made."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..errors import BijouError
from ..files import load_json, write_json

MANIFEST = "bijou-manifest.json"


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    path = Path(folder) / MANIFEST
    write_json(path, data)
    return path


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a trained adapter or model folder (one clear line when it is missing)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BijouError(f"{folder}: no {MANIFEST}: not a finished bijou training output")
    manifest = load_json(path)
    if not isinstance(manifest, dict):
        raise BijouError(f"{path}: expected a JSON object, found {type(manifest).__name__}")
    if manifest.get("kind") == "adapter":
        for field, check in ADAPTER_FIELDS.items():
            value: Any = manifest
            for key in field.split("."):
                value = value.get(key) if isinstance(value, dict) else None
            if not check(value):
                raise BijouError(f"{path}: {field}: missing or of the wrong type")
    return manifest


ADAPTER_FIELDS = {  # what the runtime and evaluation read from an adapter's manifest
    "device": lambda v: isinstance(v, str),
    "base_model.name": lambda v: isinstance(v, str),
    "prompt_format.style": lambda v: v in ("full", "compact"),
}


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(name: str, source: str) -> dict[str, Any]:
    """Name, resolved source and a fingerprint of the weights' index (sizes and names of files)."""
    folder = Path(source)
    fingerprint = None
    if folder.is_dir():
        digest = hashlib.sha256()
        for item in sorted(folder.glob("*.safetensors")):
            digest.update(f"{item.name}:{item.stat().st_size}".encode())
            with open(item, "rb") as fh:
                digest.update(fh.read(1 << 20))
        fingerprint = digest.hexdigest()[:16]
    return {"name": name, "source": str(source), "fingerprint": fingerprint}
