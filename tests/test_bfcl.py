"""``bijou eval bfcl``: BFCL AST scoring on the bfcl-eval data and on small hand-written entries."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from bijou_core.calls import Parsed, parse
from bijou_core.cli import main
from bijou_core.errors import BijouError
from bijou_core.evaluate import bfcl

AST_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple")

WEATHER = {
    "name": "weather.get_forecast",
    "description": "Forecast for a city.",
    "parameters": {
        "type": "dict",
        "properties": {
            "city": {"type": "string", "description": "City."},
            "days": {"type": "integer", "description": "How many days."},
            "threshold": {"type": "float", "description": "Rain threshold."},
            "metric": {"type": "boolean", "description": "Metric units."},
            "hours": {"type": "array", "items": {"type": "integer"}, "description": "Hours of the day."},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags."},
            "place": {"type": "dict", "description": "Where.", "properties": {}},
        },
        "required": ["city", "days"],
    },
}
WEATHER_ANSWER = {
    "weather.get_forecast": {
        "city": ["New York, NY", "NYC"],
        "days": [3],
        "threshold": [0.5, ""],
        "metric": [True, ""],
        "hours": [[6, 12], ""],
        "tags": [["Rain", "wind"], ""],
        "place": [{"country": ["USA", "US"], "state": ["", "NY"]}, ""],
    }
}
TIMER = {
    "name": "set_timer",
    "description": "Start a timer.",
    "parameters": {
        "type": "dict",
        "properties": {"minutes": {"type": "integer", "description": "Minutes."}},
        "required": ["minutes"],
    },
}


def call(name: str = "weather.get_forecast", **arguments) -> dict:
    return {"name": name, "arguments": arguments}


def simple_error(*calls: dict, underscore_to_dot: bool = False) -> str | None:
    entry = bfcl.Entry("simple_python_0", [WEATHER], [WEATHER_ANSWER])
    return bfcl.check_entry("simple_python", entry, Parsed(list(calls)), underscore_to_dot)


def parallel_entry() -> bfcl.Entry:
    answers = [{"set_timer": {"minutes": [5]}}, {"set_timer": {"minutes": [10]}}, WEATHER_ANSWER]
    return bfcl.Entry("parallel_multiple_0", [TIMER, WEATHER], answers)


# -- the official data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bfcl_data() -> Path:
    """The installed bfcl-eval data (CI installs it with `pip install --no-deps bfcl-eval`)."""
    try:
        return bfcl.data_dir()
    except BijouError as exc:
        pytest.skip(str(exc))


def _first(options: list) -> object:
    return _concrete(next(option for option in options if option != ""))


def _concrete(value: object) -> object:
    """A model's value from a possible answer: dict answers map keys to option lists."""
    if isinstance(value, dict):
        return {k: _first(options) for k, options in value.items() if "" not in options}
    if isinstance(value, list):
        return [_concrete(v) for v in value]
    return value


def truth_calls(entry: bfcl.Entry) -> list[dict]:
    """The calls spelled by the possible answers: every non-optional parameter at its first value.

    A parameter the function requires is kept even when the answer marks it optional (the data
    do so for simple_python_200).
    """
    calls = []
    for answer in entry.answers:
        ((name, params),) = answer.items()
        required = next(f for f in entry.functions if f["name"] == name)["parameters"]["required"]
        arguments = {p: _first(opts) for p, opts in params.items() if "" not in opts or p in required}
        calls.append({"name": name, "arguments": arguments})
    return calls


@pytest.mark.parametrize("category", AST_CATEGORIES)
def test_ground_truth_scores_100_percent(bfcl_data, category):
    entries = bfcl.load_category(category)
    predictions = {e.id: bfcl.Prediction(1, Parsed(truth_calls(e))) for e in entries}
    results = bfcl.score(category, entries, predictions, "truth.jsonl")
    wrong = [r for r in results["results"] if not r["valid"]]
    assert wrong == []
    assert results["summary"] == {"total": len(entries), "correct": len(entries), "accuracy": 1.0}


def test_broken_ground_truth_fails_everywhere(bfcl_data):
    entries = bfcl.load_category("simple_python")
    renamed, dropped = {}, {}
    for entry in entries:
        (truth,) = truth_calls(entry)
        renamed[entry.id] = bfcl.Prediction(1, Parsed([dict(truth, name=truth["name"] + "_x")]))
        required = entry.functions[0]["parameters"]["required"]
        arguments = {k: v for k, v in truth["arguments"].items() if k != required[0]}
        dropped[entry.id] = bfcl.Prediction(1, Parsed([dict(truth, arguments=arguments)]))
    for predictions, reason in ((renamed, "Function name"), (dropped, "Missing required parameter")):
        results = bfcl.score("simple_python", entries, predictions, "p.jsonl")
        with_required = [e for e in entries if e.functions[0]["parameters"]["required"]]
        expected_wrong = len(entries) if reason == "Function name" else len(with_required)
        assert len(entries) - results["summary"]["correct"] == expected_wrong
        assert all(reason in r["error"] for r in results["results"] if not r["valid"])


def test_category_files_are_found_by_suffix(bfcl_data):
    assert bfcl.category_file(bfcl_data, "multiple").name.endswith("_multiple.json")
    assert "parallel" not in bfcl.category_file(bfcl_data, "multiple").name
    assert bfcl.load_category("irrelevance")[0].answers == []


# -- AST semantics on hand-written entries ------------------------------------------------------------


def test_a_right_call_in_many_spellings():
    assert simple_error(call(city="New York, NY", days=3)) is None
    assert simple_error(call(city="new york ny", days=3, threshold=0.5, metric=True)) is None
    assert simple_error(call(city="NYC", days=3, hours=[6, 12], tags=["rain", "Wind"])) is None
    assert simple_error(call(city="NYC", days=3, place={"country": "us"})) is None
    assert simple_error(call(city="NYC", days=3, place={"country": "USA", "state": "NY"})) is None
    # An integer is accepted for a float parameter.
    entry = bfcl.Entry("t", [WEATHER], [{"weather.get_forecast": {**WEATHER_ANSWER["weather.get_forecast"]}}])
    entry.answers[0]["weather.get_forecast"]["threshold"] = [1.0]
    assert bfcl.check_entry("simple_python", entry, Parsed([call(city="NYC", days=3, threshold=1)])) is None


@pytest.mark.parametrize(
    ("wrong", "reason"),
    [
        (call("weather.forecast", city="NYC", days=3), "Function name 'weather.get_forecast' not found"),
        (call(city="Boston", days=3), "Invalid value for parameter 'city': 'Boston'"),
        (call(city="NYC", days=4), "Invalid value for parameter 'days': 4"),
        (call(city="NYC"), "Missing required parameter: 'days'"),
        (call(city="NYC", days=3, hourly=True), "Unexpected parameter: 'hourly'"),
        (call(city="NYC", days="3"), "Incorrect type for parameter 'days'. Expected type integer, got str"),
        (call(city="NYC", days=3.0), "Incorrect type for parameter 'days'"),
        (call(city="NYC", days=3, metric=1), "Incorrect type for parameter 'metric'"),
        (call(city="NYC", days=True), "Incorrect type for parameter 'days'"),
        (call(city="NYC", days=3, hours=[12, 6]), "Invalid value for parameter 'hours'"),
        # As in the official checker, an optional ("") list skips the element types, not the value check.
        (call(city="NYC", days=3, hours=[6, "12"]), "Invalid value for parameter 'hours': [6, '12']"),
        (call(city="NYC", days=3, place={"country": "France"}), "Invalid value for parameter 'country'"),
        (call(city="NYC", days=3, place={"state": "NY"}), "Missing dict key parameter: 'country'"),
        (
            call(city="NYC", days=3, place={"country": "US", "zip": "1"}),
            "Unexpected dict key parameter: 'zip'",
        ),
    ],
)
def test_wrong_calls_are_wrong_with_a_reason(wrong, reason):
    error = simple_error(wrong)
    assert error is not None and reason in error


def test_array_elements_are_type_checked():
    answer = {"weather.get_forecast": {"city": ["NYC"], "days": [3], "hours": [[6, 12]]}}
    entry = bfcl.Entry("t", [WEATHER], [answer])
    error = bfcl.check_entry("simple_python", entry, Parsed([call(city="NYC", days=3, hours=[6, "12"])]))
    assert error.startswith("Nested type checking failed for parameter 'hours'. Expected outer type array")


def test_call_count_and_parse_failures():
    assert simple_error() == "Wrong number of functions."
    assert simple_error(call(city="NYC", days=3), call(city="NYC", days=3)) == "Wrong number of functions."
    entry = bfcl.Entry("t", [WEATHER], [WEATHER_ANSWER])
    error = bfcl.check_entry("simple_python", entry, parse("I cannot do that."))
    assert error == "Invalid syntax. Failed to decode AST. no JSON list in the output"


def test_a_parameter_answered_without_empty_string_must_be_given():
    entry = bfcl.Entry(
        "t", [WEATHER], [{"weather.get_forecast": {"city": ["NYC"], "days": [3], "metric": [False]}}]
    )
    error = bfcl.check_entry("simple_python", entry, Parsed([call(city="NYC", days=3)]))
    assert error == "Optional parameter 'metric' not provided and not marked as optional."


def test_dotted_names_with_underscores_as_the_official_checker():
    assert simple_error(call("weather_get_forecast", city="NYC", days=3), underscore_to_dot=True) is None
    assert "not found" in simple_error(call("weather_get_forecast", city="NYC", days=3))
    assert "not found" in simple_error(call(city="NYC", days=3), underscore_to_dot=True)


def test_multiple_picks_the_answered_function():
    entry = bfcl.Entry("multiple_0", [TIMER, WEATHER], [WEATHER_ANSWER])
    assert bfcl.check_entry("multiple", entry, Parsed([call(city="NYC", days=3)])) is None
    error = bfcl.check_entry("multiple", entry, Parsed([call("set_timer", minutes=3)]))
    assert "Function name 'weather.get_forecast' not found" in error


def test_parallel_calls_match_in_any_order():
    entry = parallel_entry()
    timer5, timer10, weather = (
        call("set_timer", minutes=5),
        call("set_timer", minutes=10),
        call(city="NYC", days=3),
    )
    for order in ([timer5, timer10, weather], [weather, timer10, timer5], [timer10, weather, timer5]):
        assert bfcl.check_entry("parallel_multiple", entry, Parsed(order)) is None
    # Each expected call needs its own predicted call.
    error = bfcl.check_entry("parallel_multiple", entry, Parsed([timer5, timer5, weather]))
    assert error.startswith(
        "Could not find a matching function among index [1, 2] of model output for index 1"
    )
    assert (
        bfcl.check_entry("parallel_multiple", entry, Parsed([timer5, weather]))
        == "Wrong number of functions."
    )


def test_irrelevance_is_right_only_without_calls():
    entry = bfcl.Entry("irrelevance_0", [TIMER], [])
    assert bfcl.check_entry("irrelevance", entry, Parsed([])) is None
    assert bfcl.check_entry("irrelevance", entry, parse("Sorry, no tool for that.")) is None
    error = bfcl.check_entry("irrelevance", entry, Parsed([call("set_timer", minutes=5)]))
    assert error == "Valid syntax. Successfully decode AST when it should not."


# -- the command line ------------------------------------------------------------------------------


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def data_folder(tmp_path, monkeypatch) -> Path:
    """A bfcl-eval-shaped data folder with a v3 and a newer v4 parallel_multiple file."""
    folder = tmp_path / "data"
    (folder / "possible_answer").mkdir(parents=True)
    entry = parallel_entry()
    question = [[{"role": "user", "content": "set a 10 minute timer and get the nyc forecast"}]]
    tests = [
        {"id": f"parallel_multiple_{i}", "question": question, "function": entry.functions} for i in range(3)
    ]
    truth = [{"id": t["id"], "ground_truth": entry.answers} for t in tests]
    write_jsonl(folder / "BFCL_v4_parallel_multiple.json", tests)
    write_jsonl(folder / "possible_answer" / "BFCL_v4_parallel_multiple.json", truth)
    write_jsonl(folder / "BFCL_v3_parallel_multiple.json", tests[:1])
    monkeypatch.setattr(bfcl, "data_dir", lambda: folder)
    return folder


def run(*args: str):
    return CliRunner().invoke(main, ["eval", "bfcl", *args], catch_exceptions=False)


def test_cli_scores_a_predictions_file(data_folder, tmp_path):
    right = [call("set_timer", minutes=10), call(city="nyc", days=3), call("set_timer", minutes=5)]
    predictions = write_jsonl(
        tmp_path / "pred.jsonl",
        [
            {"id": "parallel_multiple_0", "calls": right},
            {"id": "parallel_multiple_1", "text": "```json\n" + json.dumps(right[:2]) + "\n```"},
        ],
    )
    output = tmp_path / "out" / "verdicts.json"
    result = run(
        "--category", "parallel_multiple", "--predictions", str(predictions), "--output", str(output)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"BFCL parallel_multiple: 1/3 correct (33.3%, 1 without a prediction); verdicts in {output}"
    )
    verdicts = json.loads(output.read_text())
    assert verdicts["category"] == "parallel_multiple"
    assert verdicts["summary"] == {"total": 3, "correct": 1, "accuracy": 1 / 3}
    assert verdicts["results"] == [
        {"id": "parallel_multiple_0", "valid": True, "error": None},
        {"id": "parallel_multiple_1", "valid": False, "error": "Wrong number of functions."},
        {"id": "parallel_multiple_2", "valid": False, "error": "No prediction for this id."},
    ]
    limited = run("--category", "parallel_multiple", "--predictions", str(predictions), "--limit", "1")
    assert limited.stdout == "BFCL parallel_multiple: 1/1 correct (100.0%)\n"


def test_cli_bad_input_is_one_line(data_folder, tmp_path):
    missing = tmp_path / "none.jsonl"
    result = run("--category", "parallel_multiple", "--predictions", str(missing))
    assert result.exit_code == 1 and result.output == f"Error: {missing}: file not found\n"

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "parallel_multiple_0", "calls": []}\n{"id": "parallel_multiple_1", "calls": [\n')
    result = run(
        "--category", "parallel_multiple", "--predictions", str(bad), "--output", str(tmp_path / "o.json")
    )
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {bad}:2: invalid JSON:") and result.output.count("\n") == 1
    assert not (tmp_path / "o.json").exists()

    cases = [
        (
            {"id": "parallel_multiple_0", "calls": [{"name": "set_timer"}]},
            "calls[0]: 'arguments' is a required property",
        ),
        (
            {"id": "parallel_multiple_0"},
            'give exactly one of "calls" (a call list) or "text" (raw model output)',
        ),
        ({"calls": []}, 'expected an object with a string "id"'),
        (
            {"id": "parallel_multiple_9", "calls": []},
            "id 'parallel_multiple_9' is not a BFCL parallel_multiple entry",
        ),
    ]
    for record, message in cases:
        write_jsonl(bad, [{"id": "parallel_multiple_1", "calls": []}, record])
        result = run("--category", "parallel_multiple", "--predictions", str(bad))
        assert result.output == f"Error: {bad}:2: {message}\n"


def test_cli_runs_a_model_on_the_category(data_folder, tiny_model_dir, tmp_path):
    assert (
        bfcl.load_category("parallel_multiple")[0].query == "set a 10 minute timer and get the nyc forecast"
    )
    output = tmp_path / "verdicts.json"
    result = run(
        "--category", "parallel_multiple", "--model", str(tiny_model_dir), "--limit", "2", "-o", str(output)
    )
    assert result.exit_code == 0, result.output
    verdicts = json.loads(output.read_text())
    assert verdicts["summary"]["total"] == 2 and len(verdicts["results"]) == 2
    assert set(verdicts["model"]["texts"]) == {"parallel_multiple_0", "parallel_multiple_1"}
    result = run(
        "--category", "parallel_multiple", "--model", "m", "--predictions", str(tmp_path / "p.jsonl")
    )
    assert result.exit_code == 2 and "give either --model NAME or --predictions FILE" in result.output


def test_cli_without_bfcl_eval_says_how_to_install(tmp_path, monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    predictions = write_jsonl(tmp_path / "p.jsonl", [])
    result = run("--category", "simple_python", "--predictions", str(predictions))
    assert result.output == "Error: the BFCL data are not installed: run `pip install --no-deps bfcl-eval`\n"
