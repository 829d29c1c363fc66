"""The manifest written beside every adapter or model bijou trains (``bijou-manifest.json``): what it
is and how it was made, as a typed value checked against ``schemas/manifest.schema.json``."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .errors import BijouError
from .files import load_json, write_json
from .schema import check_format

MANIFEST = "bijou-manifest.json"


@dataclass(frozen=True)
class BaseModel:
    """The model an adapter or a merged model was trained from."""

    name: str  # as given to --base: a registered name, a folder or a hub id
    source: str | None = None  # the folder or hub id it resolved to
    fingerprint: str | None = None  # see model_identity

    def local_or_name(self) -> str:
        """Its resolved folder if that is still there, else its name."""
        return self.source if self.source and Path(self.source).is_dir() else self.name


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A trained adapter's (``kind="adapter"``) or merged model's (``kind="base"``) manifest."""

    kind: Literal["adapter", "base"]
    bijou_version: str | None = None
    device: str | None = None
    device_version: str | None = None
    plugin_package: str | None = None
    tools_hash: str | None = None
    base_model: BaseModel | None = None
    prompt_format: dict[str, Any]  # PromptFormat.describe(); read back with PromptFormat.recorded
    data: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None  # the evaluation summary, after training with --eval
    file: Path | None = field(default=None, compare=False)  # where it was read from

    @property
    def trained_on(self) -> BaseModel:
        """The base model this adapter (or merged model) was trained from."""
        if self.base_model is None:
            raise BijouError(
                f"{self.file or MANIFEST}: base_model: missing: the base it was trained on is unknown"
            )
        return self.base_model

    @classmethod
    def from_json(cls, data: Any, source: str | Path = MANIFEST) -> Manifest:
        """A manifest from its JSON value; one line naming ``source`` and the field when it is bad."""
        if not isinstance(data, dict):
            raise BijouError(f"{source}: expected a JSON object, found {type(data).__name__}")
        check_format(data, "manifest", str(source))
        base = data.get("base_model")
        return cls(
            **{f.name: data[f.name] for f in fields(cls) if f.name in data and f.name != "base_model"},
            base_model=None
            if base is None
            else BaseModel(base["name"], base.get("source"), base.get("fingerprint")),
            file=Path(source),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON value written to disk: every field that is set, in declaration order."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "file"}
        data["base_model"] = None if self.base_model is None else asdict(self.base_model)
        return {key: value for key, value in data.items() if value is not None}


def write_manifest(folder: str | Path, manifest: Manifest) -> Path:
    path = Path(folder) / MANIFEST
    write_json(path, manifest.to_json())
    return path


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a trained adapter or model folder (one clear line when it is missing or bad)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BijouError(f"{folder}: no {MANIFEST}: not a finished bijou training output")
    return Manifest.from_json(load_json(path), path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_identity(name: str, source: str) -> BaseModel:
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
    return BaseModel(name, str(source), fingerprint)
