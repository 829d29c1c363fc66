"""Salesforce xLAM function-calling rows -> bijou records, and loading xLAM from the hub or a file.

An xLAM row is ``{"id", "query", "tools", "answers"}`` with ``tools`` and ``answers`` as JSON text.
Its tools declare parameters as a flat map with Python-style types (``"List[int]"``, ``"str,
optional"``) and no ``required`` list; :func:`convert_tool` turns each into bijou's JSON-Schema tool
format. A parameter is required unless its type says ``optional`` or it states a default. Types
map faithfully: ``int`` -> ``integer``, ``float`` -> ``number`` (which also accepts integers, as
Python does), ``List[T]``/``Set[T]``/``Tuple[A, B]`` -> arrays with typed items, ``Dict[K, V]``
-> objects; a type with no JSON equivalent (``Callable``, ``Any`` at the top level) makes the row
unconvertible. Defaults are kept when they match the type; a default given as JSON text
(``"10"`` for an ``int``) is parsed; ``""`` or ``null`` for a non-string type is xLAM's "defaults
to None" and is dropped. Answers are kept only when every call names a declared tool, passes only
declared arguments, gives every required one and validates against the converted schema: a row
that would teach a wrong call is skipped, and counted with its reason.
"""

from __future__ import annotations

import ast
import copy
import json
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from ..bounds import too_deep
from ..errors import BijouError
from ..files import write_jsonl
from ..schema import CallValidator, check_format, check_tools, format_schema

XLAM_DATASET = "Salesforce/xlam-function-calling-60k"
LOCAL_FORMATS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
COLUMNS = ("query", "tools", "answers")

SCALARS = {
    "str": "string",
    "string": "string",
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "list": "array",
    "array": "array",
    "tuple": "array",
    "set": "array",
    "dict": "object",
    "object": "object",
}
LISTS = {"list", "sequence"}
DICTS = {"dict", "mapping"}
PY_LITERALS = {"True": True, "False": False, "None": None}
MAX_TYPE_TEXT = 200  # characters of one parameter's type ("Dict[str, List[int]]" is 20)
NAME_PATTERN = format_schema("tools")["items"]["properties"]["name"]["pattern"]


class Skip(Exception):
    """A row that cannot be converted; the message is the reason counted in the summary."""


# -- types ------------------------------------------------------------------------------------


def _split_top(text: str) -> list[str]:
    """Split ``text`` on the commas that are not inside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _union(members: list[dict[str, Any]]) -> dict[str, Any]:
    unique = [m for i, m in enumerate(members) if m not in members[:i]]
    if {} in unique:
        return {}
    if all(m in ({"type": "integer"}, {"type": "number"}) for m in unique):
        return {"type": "number"} if {"type": "number"} in unique else {"type": "integer"}
    return unique[0] if len(unique) == 1 else {"anyOf": unique}


def _schema(node: ast.expr) -> dict[str, Any]:
    """The JSON Schema of one node of a parsed Python type expression."""
    if isinstance(node, ast.Constant) and node.value is None:
        return {"type": "null"}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _union([_schema(node.left), _schema(node.right)])
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):  # "int or float"
        return _union([_schema(v) for v in node.values])
    if isinstance(node, ast.Name):
        name = node.id.lower()
        if name == "any":
            return {}
        if name in ("none", "nonetype"):
            return {"type": "null"}
        if name in SCALARS:
            return {"type": SCALARS[name], **({"uniqueItems": True} if name == "set" else {})}
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        return _generic(node.value.id.lower(), node)
    raise Skip(f"unknown type {_head(node)!r}")


def _head(node: ast.expr) -> str:
    """The name a user recognizes an unknown type by (``Callable`` for ``Callable[[int], int]``)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return ast.unparse(node)


def _generic(name: str, node: ast.Subscript) -> dict[str, Any]:
    args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
    if name in ("optional", "union"):
        return _union([_schema(a) for a in args] + ([{"type": "null"}] if name == "optional" else []))
    if name in LISTS | {"set", "frozenset"} and len(args) == 1:
        items = _schema(args[0])
        unique = {"uniqueItems": True} if name in ("set", "frozenset") else {}
        return {"type": "array", **({"items": items} if items else {}), **unique}
    if name == "tuple":
        if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is Ellipsis:
            items = _schema(args[0])
            return {"type": "array", **({"items": items} if items else {})}
        return {
            "type": "array",
            "prefixItems": [_schema(a) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if name in DICTS and len(args) == 2:
        _schema(args[0])  # JSON keys are strings whatever the key type; it must still be a known one
        values = _schema(args[1])
        return {"type": "object", **({"additionalProperties": values} if values else {})}
    known = name in LISTS | DICTS | {"set", "frozenset", "tuple", "optional", "union"}
    raise Skip(f"unknown type {ast.unparse(node) if known else _head(node)!r}")


def convert_type(text: str) -> tuple[dict[str, Any], bool]:
    """``(JSON Schema, optional)`` for an xLAM type such as ``"List[int], optional"``.

    Raises :class:`Skip` for a type with no single JSON type.
    """
    if not isinstance(text, str) or not text.strip():
        raise Skip("parameter without a type")
    first, *flags = _split_top(text.strip())
    optional = False
    for flag in flags:
        if flag.lower() == "optional" or flag.lower().startswith("default"):
            optional = True
        else:
            raise Skip(f"unknown type {text!r}")
    if len(first) > MAX_TYPE_TEXT:
        raise Skip("type too long")
    try:
        node = ast.parse(first, mode="eval").body
        schema = _schema(node)
    except (SyntaxError, RecursionError, MemoryError):
        raise Skip(f"unknown type {first!r}") from None
    members = schema.get("anyOf", [schema])
    if {"type": "null"} in members:  # Optional[T], T | None
        optional = True
        members = [m for m in members if m != {"type": "null"}]
        schema = _union(members) if members else {}
    if schema.get("type") not in ("string", "integer", "number", "boolean", "array", "object"):
        raise Skip(f"type {first!r} has no single JSON type")
    return schema, optional


# -- tools --------------------------------------------------------------------------------------


def _default(value: Any, schema: dict[str, Any]) -> tuple[bool, Any]:
    """``(keep, value)``: the default as a value of ``schema``, or not kept when xLAM means none."""
    validator = Draft202012Validator(schema)
    if validator.is_valid(value):
        return True, value
    if value is None or value == "":
        return False, None
    candidates = []
    if isinstance(value, str):
        if value in PY_LITERALS:
            candidates.append(PY_LITERALS[value])
        with suppress(ValueError):
            candidates.append(json.loads(value, parse_constant=_reject_constant))
    elif schema["type"] == "string" and isinstance(value, (bool, int, float)):
        candidates.append(json.dumps(value))
    for candidate in candidates:
        if candidate is None:
            return False, None
        if validator.is_valid(candidate):
            return True, candidate
    raise Skip("default does not match its type")


def _param(spec: Any) -> tuple[dict[str, Any], bool]:
    """``(JSON Schema, required)`` for one xLAM parameter spec."""
    if not isinstance(spec, dict):
        raise Skip("parameter is not an object")
    schema, optional = convert_type(spec.get("type"))
    described = spec.get("description")
    if isinstance(described, str) and described:
        schema["description"] = described
    if "default" in spec:
        optional = True
        keep, value = _default(spec["default"], {k: v for k, v in schema.items() if k != "description"})
        if keep:
            schema["default"] = value
    return schema, not optional


def convert_tool(tool: Any) -> dict[str, Any]:
    """One xLAM tool in bijou's tool format (``parameters`` a JSON Schema object)."""
    if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
        raise Skip("tools is not a list of named tools")
    if not re.fullmatch(NAME_PATTERN, tool["name"]):
        raise Skip("tool name is not an identifier")
    if not isinstance(tool.get("description"), str) or not tool["description"].strip():
        raise Skip("tool without a description")
    params = tool.get("parameters") or {}
    if not isinstance(params, dict):
        raise Skip("tool parameters are not a name -> spec map")
    properties, required = {}, []
    for pname, spec in params.items():
        properties[pname], needed = _param(spec)
        if needed:
            required.append(pname)
    schema = {"type": "object", "properties": properties, **({"required": required} if required else {})}
    return {"name": tool["name"], "description": tool["description"], "parameters": schema}


# -- rows ---------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_field(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if isinstance(value, str):
        try:
            value = json.loads(value, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise Skip(f"invalid JSON in {key}") from None
    if too_deep(value):
        raise Skip(f"{key} nested too deeply")
    return value


def _check_answers(answers: Any, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not isinstance(answers, list) or not all(
        isinstance(c, dict) and set(c) == {"name", "arguments"} and isinstance(c["arguments"], dict)
        for c in answers
    ):
        raise Skip('answers is not a list of {"name", "arguments"} calls')
    by_name = {tool["name"]: tool["parameters"] for tool in tools}
    for call in answers:
        params = by_name.get(call["name"])
        if params is None:
            raise Skip("answer calls an undeclared tool")
        if set(call["arguments"]) - set(params["properties"]):
            raise Skip("answer argument not in the tool's parameters")
        if set(params.get("required", [])) - set(call["arguments"]):
            raise Skip("answer omits a required argument")
    if CallValidator(tools).check_calls(answers):
        raise Skip("answer value does not match its type")
    return answers


@lru_cache(maxsize=8192)
def _checked_tool(text: str) -> dict[str, Any]:
    """A converted tool that passed ``check_tools``, memoized: xLAM reuses each tool in many rows."""
    tool = convert_tool(json.loads(text))
    try:
        check_tools([tool], "xlam")
    except BijouError as exc:
        raise Skip(f"tool fails bijou's tools check ({exc})") from None
    return tool


def convert_row(row: dict[str, Any]) -> dict[str, Any]:
    """One xLAM row as a bijou record ``{"query", "answers", "tools"}``; raises :class:`Skip`."""
    if not isinstance(row, dict):
        raise Skip("row is not an object")
    query = row.get("query")
    if not isinstance(query, str) or not query.strip():
        raise Skip("empty query")
    raw_tools = _json_field(row, "tools")
    answers = _json_field(row, "answers")
    if raw_tools == []:
        raise Skip("no tools")
    if not isinstance(raw_tools, list):
        raise Skip("tools is not a list of named tools")
    tools = [copy.deepcopy(_checked_tool(json.dumps(tool))) for tool in raw_tools]
    names = [tool["name"] for tool in tools]
    if len(set(names)) < len(names):
        raise Skip("duplicate tool name")
    record = {"query": query, "answers": _check_answers(answers, tools)}
    try:  # each tool passed check_tools already: validating them again per row would triple the time
        check_format(record, "record", "xlam")
    except BijouError as exc:
        raise Skip(f"record fails bijou's record format ({exc})") from None
    return {**record, "tools": tools}


# -- preparing ----------------------------------------------------------------------------------


@dataclass
class Prepared:
    """Converted records, split into train and validation, and the skipped rows by reason."""

    train: list[dict[str, Any]]
    val: list[dict[str, Any]]
    rows: int
    skipped: Counter[str] = field(default_factory=Counter)

    def summary(self, shown: int = 10) -> str:
        """One line: how many rows became records, and why the others were skipped."""
        kept = len(self.train) + len(self.val)
        line = f"prepared {kept:,} of {self.rows:,} rows (train {len(self.train):,}, val {len(self.val):,})"
        line += f"; skipped {sum(self.skipped.values()):,}"
        common = sorted(self.skipped.items(), key=lambda item: (-item[1], item[0]))
        if common:
            line += ": " + ", ".join(f"{reason} {count:,}" for reason, count in common[:shown])
        if len(common) > shown:
            others = len(common) - shown
            rest = sum(count for _, count in common[shown:])
            line += f", {others} other reason{'s' * (others > 1)} {rest:,}"
        return line


def sample_order(rows: int, seed: int, max_samples: int | None = None) -> list[int]:
    """Row indices in a seeded random order, cut to ``max_samples``: a sample of the whole dataset."""
    order = list(range(rows))
    random.Random(seed).shuffle(order)
    return order[:max_samples] if max_samples is not None else order


def prepare_rows(rows: Iterable[dict[str, Any]], val_fraction: float) -> Prepared:
    """Convert rows (already in sampled order); the last ``val_fraction`` of the records (at least one
    when there are two or more) is the validation split."""
    records, skipped, count = [], Counter(), 0
    for row in rows:
        count += 1
        try:
            records.append(convert_row(row))
        except Skip as skip:
            skipped[str(skip)] += 1
    n_val = max(1, round(len(records) * val_fraction)) if val_fraction and len(records) > 1 else 0
    cut = len(records) - n_val
    return Prepared(records[:cut], records[cut:], count, skipped)


def dataset_stem(source: str) -> str:
    """The output name for a hub id or a local path: ``xlam_function_calling_60k``."""
    path = Path(source)
    if path.exists():
        name = path.stem if path.is_file() else path.resolve().name
    else:
        name = source.rstrip("/").rsplit("/", 1)[-1]
    return name.lower().replace("-", "_")


# -- loading ------------------------------------------------------------------------------------


def _datasets():
    try:
        import datasets
    except ImportError:
        raise BijouError("preparing xLAM needs the `datasets` package: pip install datasets") from None
    return datasets


def _first_line(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _load_local(path: Path) -> Any:
    datasets = _datasets()
    try:
        if path.is_dir():
            loaded = datasets.load_dataset(str(path))
            if "train" not in loaded and len(loaded) != 1:
                raise BijouError(f"{path}: expected one split of xLAM rows, found {', '.join(loaded)}")
            return loaded["train"] if "train" in loaded else next(iter(loaded.values()))
        builder = LOCAL_FORMATS.get(path.suffix.lower())
        if builder is None:
            raise BijouError(f"{path}: expected an xLAM file ending in {', '.join(LOCAL_FORMATS)}")
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except BijouError:
        raise
    except Exception as exc:  # datasets and pyarrow raise many types for an unreadable file
        raise BijouError(f"{path}: cannot read xLAM rows: {_first_line(exc)}") from None


@contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """Make ``datasets`` use only its cache while the hub is unreachable (no slow retries)."""
    config = _datasets().config
    before = config.HF_HUB_OFFLINE
    config.HF_HUB_OFFLINE = before or offline
    try:
        yield
    finally:
        config.HF_HUB_OFFLINE = before


def _hub_reachable(repo_id: str) -> bool:
    """One quick request to the hub; False when offline or unreachable."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
    from huggingface_hub.utils import httpx

    if _datasets().config.HF_HUB_OFFLINE:
        return False
    try:
        HfApi().dataset_info(repo_id, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except GatedRepoError:
        return True  # load_dataset explains how to get access
    except RepositoryNotFoundError:
        raise BijouError(
            f"{repo_id}: no such dataset on the Hugging Face hub (if it is private: `hf auth login`)"
        ) from None
    except HfHubHTTPError as exc:
        raise BijouError(f"{repo_id}: the hub answered {_first_line(exc)}") from None
    except (OSError, httpx.TransportError):
        return False
    return True


def _load_hub(repo_id: str) -> Any:
    datasets = _datasets()
    reachable = _hub_reachable(repo_id)
    try:
        with _hub_offline(not reachable):
            return datasets.load_dataset(repo_id, split="train")
    except datasets.exceptions.DatasetNotFoundError as exc:
        hint = " (log in with `hf auth login` and accept its terms on the hub)" if "gated" in str(exc) else ""
        raise BijouError(f"{repo_id}: {exc}{hint}") from None
    except ConnectionError as exc:
        if reachable:
            raise BijouError(f"{repo_id}: cannot download: {_first_line(exc)}") from None
        raise BijouError(
            f"{repo_id}: the dataset is not cached and the Hugging Face hub is unreachable; "
            "pass a local xLAM file (.json, .jsonl or .parquet) with --dataset"
        ) from None
    except Exception as exc:  # a broken cache or download: one line, not a traceback
        raise BijouError(f"{repo_id}: cannot load: {_first_line(exc)}") from None


def load_xlam(source: str) -> Any:
    """The xLAM rows of a hub dataset id, a local file or a folder, as a ``datasets.Dataset``."""
    path = Path(source)
    if path.exists():
        rows = _load_local(path)
    elif path.suffix.lower() in LOCAL_FORMATS or source.startswith((".", "/", "~")):
        raise BijouError(f"{source}: file not found")
    elif source.count("/") != 1:
        raise BijouError(f"{source}: not a local file or folder, nor a hub dataset id (owner/name)")
    else:
        rows = _load_hub(source)
    missing = [c for c in COLUMNS if c not in rows.column_names]
    if missing:
        found = ", ".join(rows.column_names)
        raise BijouError(f"{source}: not xLAM rows: missing column {missing[0]!r} (columns: {found})")
    for column in ("tools", "answers"):
        dtype = getattr(rows.features[column], "dtype", None)
        if dtype not in ("string", "large_string"):
            raise BijouError(f"{source}: column {column!r} must hold JSON text as in xLAM, found {dtype}")
    return rows.select_columns(list(COLUMNS))


def prepare_dataset(
    source: str,
    output_dir: Path,
    *,
    max_samples: int | None = None,
    val_fraction: float = 0.05,
    seed: int = 0,
) -> tuple[Prepared, Path, Path]:
    """Load, sample, convert and split xLAM; write ``<name>_train.jsonl`` and ``<name>_val.jsonl``."""
    from tqdm import tqdm

    rows = load_xlam(source)
    order = sample_order(len(rows), seed, max_samples)
    sampled = rows.select(order, keep_in_memory=True)
    progress = tqdm(sampled, total=len(order), desc="converting xLAM rows", unit="row")
    prepared = prepare_rows(progress, val_fraction)
    if not prepared.train and not prepared.val:
        raise BijouError(f"{source}: no row could be converted: {prepared.summary()}")
    stem = dataset_stem(source)
    train_path, val_path = (Path(output_dir) / f"{stem}_{split}.jsonl" for split in ("train", "val"))
    write_jsonl(train_path, prepared.train)
    write_jsonl(val_path, prepared.val)
    return prepared, train_path, val_path
