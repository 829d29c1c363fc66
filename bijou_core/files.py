"""Reading bijou's files with precise error locations, and writing them atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from .errors import BijouError, at


def _name(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 file, turning a missing or unreadable file into one clear line."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BijouError(f"{_name(path)}: file not found") from None
    except IsADirectoryError:
        raise BijouError(f"{_name(path)}: expected a file, found a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BijouError(f"{_name(path)}: cannot read: {exc}") from None


def load_json(path: str | os.PathLike[str]) -> Any:
    """Load a JSON document; a syntax error names the line and column."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise at(_name(path), f"{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}") from None


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Load a YAML document; a syntax error names the line."""
    text = read_text(path)
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        place = f"{mark.line + 1}:{mark.column + 1}" if mark else None
        raise at(_name(path), place, f"invalid YAML: {exc.problem}") from None


def load_document(path: str | os.PathLike[str]) -> Any:
    """Load a JSON or YAML file, chosen by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return load_yaml(path)
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(read_text(path))
        except tomllib.TOMLDecodeError as exc:
            raise at(_name(path), None, f"invalid TOML: {exc}") from None
    return load_json(path)


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSONL file."""
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise at(_name(path), lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place only on success."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=None if encoding is None else "\n") as fh:
            yield fh
        usual_permissions(tmp)  # mkstemp makes 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def usual_permissions(path: str | os.PathLike[str]) -> None:
    """Give a file or folder the permissions ``open`` or ``mkdir`` would (tempfile makes 0600 files
    and 0700 folders, safetensors 0600 files)."""
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~_umask())


def dumps_record(record: Any) -> str:
    """The canonical one-line JSON of a record (stable across runs and machines)."""
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Any]) -> int:
    """Atomically write records as JSONL; returns how many were written."""
    count = 0
    with atomic_writer(path) as fh:
        for record in records:
            fh.write(dumps_record(record) + "\n")
            count += 1
    return count


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Atomically write an indented JSON document."""
    with atomic_writer(path) as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
