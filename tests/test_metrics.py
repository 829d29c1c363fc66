"""Rates and their uncertainty in evaluation summaries and reports."""

from dataclasses import replace

from bijou_core.eval_results import EvalResults, Run, markdown_table
from bijou_core.evaluate.metrics import summarize, wilson_interval


def example(expected, exact, function=None):
    function = exact if function is None else function
    return {
        "expected": expected,
        "valid_json": True,
        "schema_valid": True,
        "function_match": function,
        "exact_match": exact,
        "latency_ms": 10.0,
    }


def test_wilson_interval_solves_its_defining_equation_and_narrows_with_more_commands():
    # 61 of 67 right is 91.0%; Wilson's bounds are the rates p with (61/67 - p)^2 = z^2 p (1 - p) / 67
    low, high = wilson_interval(61, 67)
    for p in (low / 100, high / 100):
        assert abs((61 / 67 - p) ** 2 - 1.96**2 * p * (1 - p) / 67) < 1e-4
    assert [low, high] == [81.8, 95.8]
    assert wilson_interval(0, 10) == [0.0, 27.8] and wilson_interval(10, 10) == [72.2, 100.0]
    small, large = wilson_interval(9, 10), wilson_interval(900, 1000)
    assert small[0] < large[0] < 90.0 < large[1] < small[1]


def test_summary_and_table_give_each_rate_its_interval():
    call = [{"name": "set_light", "arguments": {"on": True}}]
    examples = [example(call, True)] * 6 + [example(call, False, function=True)] * 2 + [example([], True)] * 2
    summary = summarize(examples)
    assert summary["exact_match"] == 80.0 and summary["interval_95"]["exact_match"] == wilson_interval(8, 10)
    assert summary["irrelevance"] == 100.0 and summary["interval_95"]["irrelevance"] == wilson_interval(2, 2)
    results = EvalResults(device="lamp", dataset="lamp eval set", runs=[Run(name="adapter", summary=summary)])
    table = markdown_table(results)
    low, high = wilson_interval(8, 10)
    assert f"| exact_match % | 80.0 ({low:.1f}–{high:.1f}) |" in table
    assert "95% Wilson interval" in table
    older = {k: v for k, v in summary.items() if k != "interval_95"}  # a manifest from before intervals
    table = markdown_table(replace(results, runs=[Run(name="adapter", summary=older)]))
    assert "| exact_match % | 80.0 |" in table and "Wilson" not in table


def test_results_files_read_back_as_typed_results_unchanged():
    """A results file as ``bijou devices eval --output`` writes it: typed runs, speech where spoken."""
    summary = summarize([example([], True)] * 2)
    heard = {"wer_with_vocabulary": 5.0, "wer_without_vocabulary": 9.0}
    heard |= {"speech_ms": {"p50": 80.0, "p95": 90.0}, "audio_to_call_ms": {"p50": 200.0, "p95": 250.0}}
    written = {
        "device": "lamp",
        "device_version": "1.2.3",
        "dataset": "lamp eval set",
        "base_model": "smollm2-135m",
        "adapter": "adapters/lamp",
        "backend": "llama.cpp",
        "constrained": True,
        "decline": True,
        "call_threshold": None,
        "tool_threshold": 0.8,
        "copy_text": "mask",
        "warnings": ["adapters/lamp was trained on other tool definitions"],
        "runs": [
            {"name": "base+adapter", "adapter": "lamp", "prompt_format": {"style": "compact"}}
            | {"summary": summary, "examples": [example([], True)]},
            {"name": "base+adapter, spoken (en-us)", "adapter": "lamp", "prompt_format": {"style": "compact"}}
            | {"summary": summary, "examples": [], "speech": heard},
        ],
    }
    results = EvalResults.from_json(written)
    assert results.last.speech == heard and results.runs[0].speech is None
    assert results.to_json() == written
    assert list(results.to_json()) == list(written) and list(results.runs[0].to_json()) == list(
        written["runs"][0]
    )
    table = markdown_table(results)
    assert "Base `smollm2-135m`, llama.cpp backend" in table
    assert "free text of the command's words (mask)" in table
    assert "| word error rate %, no prompt | – | 9.0 |" in table
