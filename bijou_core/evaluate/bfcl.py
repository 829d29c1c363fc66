"""BFCL (Berkeley Function Calling Leaderboard) scoring with the official AST checker's semantics.

The data come from the ``bfcl-eval`` package (installed with ``--no-deps``; only its data files are
read, never its code). Calls are bijou's ``{"name", "arguments"}`` format; each check below mirrors
``bfcl_eval/eval_checker/ast_eval/ast_checker.py`` for Python, including its quirks, so verdicts can
be compared one by one with the official ones.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ..calls import Call, Parsed, parse
from ..errors import BijouError, at
from ..files import iter_jsonl
from ..schema import describe, format_schema

CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance")
INSTALL_HINT = "pip install --no-deps bfcl-eval"
NO_PREDICTION = "No prediction for this id."

# The official PYTHON_TYPE_MAPPING: BFCL parameter types to the Python type a value must have.
PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
NESTED_TYPES = ("array", "tuple")
_STANDARDIZE = re.compile(r"[ \,\.\/\-\_\*\^]")

Answer = dict[str, dict[str, list[Any]]]


@dataclass(frozen=True)
class Entry:
    """One BFCL test: its functions and, except for irrelevance, the possible answers per call."""

    id: str
    functions: list[dict[str, Any]]
    answers: list[Answer]
    query: str = ""


@dataclass(frozen=True)
class Verdict:
    """Whether one entry was answered right, and the official checker's reason when not."""

    id: str
    valid: bool
    error: str | None


@dataclass(frozen=True)
class Prediction:
    """A model's answer for one entry, and the predictions file line it came from."""

    line: int
    parsed: Parsed


# -- data -------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """The ``bfcl_eval/data`` folder of the installed ``bfcl-eval`` distribution."""
    try:
        dist = metadata.distribution("bfcl-eval")
    except metadata.PackageNotFoundError:
        raise BijouError(f"the BFCL data are not installed: run `{INSTALL_HINT}`") from None
    path = Path(os.fspath(dist.locate_file("bfcl_eval/data")))
    if not path.is_dir():
        raise BijouError(
            f"bfcl-eval {dist.version} has no data folder at {path}: reinstall it with `{INSTALL_HINT}`"
        )
    return path


def category_file(folder: Path, category: str) -> Path:
    """The newest ``BFCL_v<N>_<category>.json`` in ``folder`` (v3 and v4 name files alike)."""
    pattern = re.compile(rf"BFCL_v(\d+)_{re.escape(category)}\.json")
    found = [(int(m[1]), p) for p in folder.glob("BFCL_v*.json") if (m := pattern.fullmatch(p.name))]
    if not found:
        raise BijouError(f"{folder}: no BFCL_v*_{category}.json; is bfcl-eval complete? (`{INSTALL_HINT}`)")
    return max(found)[1]


def _records(path: Path, fields: tuple[str, ...]) -> list[dict[str, Any]]:
    records = []
    for line, record in iter_jsonl(path):
        if not isinstance(record, dict) or any(f not in record for f in fields):
            raise at(str(path), line, f"expected an object with {', '.join(map(repr, fields))}")
        records.append(record)
    return records


def load_category(category: str) -> list[Entry]:
    """The entries of a BFCL category, in file order, with their possible answers."""
    if category not in CATEGORIES:
        raise BijouError(f"unknown BFCL category {category!r} (known: {', '.join(CATEGORIES)})")
    folder = data_dir()
    path = category_file(folder, category)
    tests = _records(path, ("id", "function"))
    if not tests:
        raise BijouError(f"{path}: no entries")
    if category == "irrelevance":
        return [Entry(t["id"], t["function"], [], _query(t)) for t in tests]
    answer_path = folder / "possible_answer" / path.name
    truth = {r["id"]: r["ground_truth"] for r in _records(answer_path, ("id", "ground_truth"))}
    entries = []
    for test in tests:
        if test["id"] not in truth:
            raise BijouError(f"{answer_path}: no possible answer for {test['id']!r}")
        names = {f["name"] for f in test["function"]}
        for answer in truth[test["id"]]:
            if not names.issuperset(answer):
                raise BijouError(f"{answer_path}: {test['id']}: answer names a function not in {path.name}")
        entries.append(Entry(test["id"], test["function"], truth[test["id"]], _query(test)))
    return entries


def _query(test: dict[str, Any]) -> str:
    """The user's request of a single-turn BFCL test (its last user message)."""
    turns = test.get("question") or [[]]
    users = [m.get("content", "") for m in turns[0] if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1] if users else ""


# -- predictions ------------------------------------------------------------------------------------


@cache
def _calls_validator() -> Draft202012Validator:
    """The call list shape, as bijou's record format defines its ``answers``."""
    return Draft202012Validator(format_schema("record")["properties"]["answers"])


def load_predictions(path: str | os.PathLike[str]) -> dict[str, Prediction]:
    """Read ``{"id", "calls": [...]}`` or ``{"id", "text": "raw model output"}`` lines, by id."""
    source = os.fspath(path)
    predictions: dict[str, Prediction] = {}
    for line, record in iter_jsonl(path):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            raise at(source, line, 'expected an object with a string "id"')
        if ("calls" in record) == ("text" in record):
            raise at(source, line, 'give exactly one of "calls" (a call list) or "text" (raw model output)')
        if "text" in record:
            if not isinstance(record["text"], str):
                raise at(source, line, '"text" must be a string')
            parsed = parse(record["text"])
        else:
            error = best_match(_calls_validator().iter_errors(record["calls"]))
            if error is not None:
                raise at(source, line, f"calls{describe(error)[1:]}")
            parsed = Parsed(record["calls"])
        if record["id"] in predictions:
            first = predictions[record["id"]].line
            raise at(source, line, f"duplicate id {record['id']!r} (first on line {first})")
        predictions[record["id"]] = Prediction(line, parsed)
    return predictions


# -- the AST checker --------------------------------------------------------------------------------


def standardize_string(text: str) -> str:
    """The official normalization: drop spaces and ``,./-_*^``, lowercase, single to double quotes."""
    return _STANDARDIZE.sub("", text).lower().replace("'", '"')


def _answer_type(possible: list[Any]) -> type | None:
    """The type of the first possible answer that is not ``""`` (the optional marker)."""
    for answer in possible:
        if answer != "":
            return type(answer)
    return None


def _type_error(
    param: str, value: Any, possible: list[Any], described: str, expected: type, nested: type | None
) -> tuple[str | None, bool]:
    """``(error or None, is_variable)``: a value of the possible answers' type counts as a variable."""
    answer_type = _answer_type(possible)
    is_variable = answer_type is not None and answer_type is not expected
    errors = []
    if type(value) is expected:
        if nested is None:
            return None, is_variable
        for item in possible:
            if type(item) is not list or all(
                _type_error(param, v, item, nested.__name__, nested, None)[0] is None for v in value
            ):
                return None, is_variable
        errors.append(
            f"Nested type checking failed for parameter {param!r}. Expected outer type {described} "
            f"with inner type {nested.__name__}. Parameter value: {value!r}."
        )
    if answer_type is not None and type(value) is answer_type:
        return (" ".join(errors) or None), True
    errors.append(
        f"Incorrect type for parameter {param!r}. Expected type {described}, "
        f"got {type(value).__name__}. Parameter value: {value!r}."
    )
    return " ".join(errors), False


def _std(value: Any) -> Any:
    return standardize_string(value) if type(value) is str else value


def _string_error(param: str, value: str, possible: list[Any]) -> str | None:
    if standardize_string(value) in [standardize_string(p) for p in possible if type(p) is str]:
        return None
    return f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}. Case insensitive."


def _list_error(param: str, value: list[Any], possible: list[Any]) -> str | None:
    # Iterating "" (an optional marker) gives [], so an empty list matches an optional parameter.
    if [_std(v) for v in value] in [[_std(p) for p in answer] for answer in possible]:
        return None
    return f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}."


def _dict_error(param: str, value: dict[str, Any], possible: list[Any]) -> str | None:
    error = f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}."
    if type(value) is not dict:  # the official checker crashes here; a wrong answer is kinder
        return error
    for answer in possible:
        if answer == "":
            continue
        error = None
        for key, item in value.items():
            if key not in answer:
                error = f"Unexpected dict key parameter: {key!r}."
                break
            options = [_std(option) for option in answer[key]]
            if _std(item) not in options:
                error = f"Invalid value for parameter {key!r}: {item!r}. Expected one of {options}."
                break
        if error is None:
            for key, options in answer.items():
                if key not in value and "" not in options:
                    error = f"Missing dict key parameter: {key!r}."
                    break
        if error is None:
            return None
    return error


def _list_dict_error(param: str, value: list[Any], possible: list[Any]) -> str | None:
    error = f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible}."
    for answer in possible:
        if len(value) != len(answer):
            error = "Wrong number of dictionaries in the list."
            continue
        errors = [_dict_error(param, item, [expected]) for item, expected in zip(value, answer, strict=True)]
        error = next((e for e in errors if e), None)
        if error is None:
            return None
    return error


def expected_name(function: dict[str, Any], underscore_to_dot: bool) -> str:
    """The name a call must use: with ``underscore_to_dot`` (models whose API forbids dots, as the
    official model config says) ``math.factorial`` must be called ``math_factorial``."""
    name = function["name"]
    return name.replace(".", "_") if underscore_to_dot else name


def check_call(
    function: dict[str, Any], call: Call, answer: Answer, underscore_to_dot: bool = False
) -> str | None:
    """Why ``call`` does not match ``function`` with the possible ``answer`` (None when it does)."""
    possible = next(iter(answer.values()))
    params = function["parameters"]
    details = params["properties"]
    name = expected_name(function, underscore_to_dot)
    if call["name"] != name:
        return f"Function name {name!r} not found in model output."
    arguments = call["arguments"]
    for param in params.get("required", []):
        if param not in arguments:
            return f"Missing required parameter: {param!r}."
    for param, value in arguments.items():
        if param not in details or param not in possible:
            return f"Unexpected parameter: {param!r}."
        described = details[param]["type"]
        expected = PYTHON_TYPES[described]
        nested = PYTHON_TYPES[details[param]["items"]["type"]] if described in NESTED_TYPES else None
        if described == "float" and type(value) is int:
            value = float(value)
        error, is_variable = _type_error(param, value, possible[param], described, expected, nested)
        if error:
            return error
        if not is_variable:
            special = None
            if expected is dict:
                special = _dict_error
            elif expected is list and nested is dict:
                special = _list_dict_error
            elif expected is str:
                special = _string_error
            elif expected is list:
                special = _list_error
            if special is not None:
                error = special(param, value, possible[param])
                if error:
                    return error
                continue
        if value not in possible[param]:
            return f"Invalid value for parameter {param!r}: {value!r}. Expected one of {possible[param]}."
    for param, options in possible.items():
        if param not in arguments and "" not in options:
            return f"Optional parameter {param!r} not provided and not marked as optional."
    return None


def _function(entry: Entry, name: str) -> dict[str, Any]:
    return next(f for f in entry.functions if f["name"] == name)


def _unordered_error(entry: Entry, calls: list[Call], underscore_to_dot: bool) -> str | None:
    """Each possible answer, in order, takes the first still-unmatched call that fits it."""
    matched: list[int] = []
    for i, answer in enumerate(entry.answers):
        function = _function(entry, next(iter(answer)))
        errors = []
        for index, call in enumerate(calls):
            if index in matched:
                continue
            error = check_call(function, call, answer, underscore_to_dot)
            if error is None:
                matched.append(index)
                break
            errors.append(f"call {index}: {error}")
        else:
            considered = [j for j in range(len(calls)) if j not in matched]
            return (
                f"Could not find a matching function among index {considered} of model output "
                f"for index {i} of possible answers. " + " ".join(errors)
            )
    return None


def check_entry(category: str, entry: Entry, parsed: Parsed, underscore_to_dot: bool = False) -> str | None:
    """Why the parsed model output fails ``entry`` (None when it is correct)."""
    calls = parsed.calls
    if category == "irrelevance":
        # No call at all (nothing decodable, or an empty list) is the right answer.
        return "Valid syntax. Successfully decode AST when it should not." if calls else None
    if calls is None:
        return f"Invalid syntax. Failed to decode AST. {parsed.error}"
    expected_count = 1 if category == "simple_python" else len(entry.answers)
    if len(calls) != expected_count:
        return "Wrong number of functions."
    if "parallel" in category:
        return _unordered_error(entry, calls, underscore_to_dot)
    if category == "multiple":
        function = _function(entry, next(iter(entry.answers[0])))
        return check_call(function, calls[0], entry.answers[0], underscore_to_dot)
    return check_call(entry.functions[0], calls[0], entry.answers[0], underscore_to_dot)


def score(
    category: str,
    entries: list[Entry],
    predictions: dict[str, Prediction],
    source: str,
    limit: int | None = None,
    underscore_to_dot: bool = False,
) -> dict[str, Any]:
    """``{"category", "summary", "results"}`` for the first ``limit`` entries (all by default).

    A prediction whose id is not in the category is an error; an entry without a prediction is wrong.
    """
    known = {entry.id for entry in entries}
    for pid, prediction in predictions.items():
        if pid not in known:
            raise at(source, prediction.line, f"id {pid!r} is not a BFCL {category} entry")
    results = []
    for entry in entries[:limit]:
        prediction = predictions.get(entry.id)
        if prediction is None:
            error = NO_PREDICTION
        else:
            error = check_entry(category, entry, prediction.parsed, underscore_to_dot)
        results.append(Verdict(entry.id, error is None, error))
    correct = sum(v.valid for v in results)
    return {
        "category": category,
        "summary": {"total": len(results), "correct": correct, "accuracy": correct / len(results)},
        "results": [vars(v) for v in results],
    }
