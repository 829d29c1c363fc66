"""Per-token overhead of constrained-decoding libraries on bijou's call-list grammar.

For each shipped device, every library constrains generation to the JSON Schema of a list of calls
to the device's tools (``bijou_core.runtime.grammar.calls_schema``). The script walks the
canonical answers of each device's eval set token by token, as a decode step would: compute the
mask of tokens allowed next, apply it to a logits row, advance with the answer's token (and at the
end check that the end token is allowed). All libraries run side by side in one process, next to
real decode steps of the embedded model (transformers, fp32, KV cache, one token per step), so the
table gives each library's cost as a share of a decode step. It also counts answers a library
rejects, invalid calls it lets through, and (xgrammar) how much of each answer jump-forward
supplies without the model.

    python benchmarks/constrained_overhead.py [--output benchmarks/constrained-decoding.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from bijou_core.calls import dumps
from bijou_core.devices import Device, load_registry
from bijou_core.files import atomic_writer
from bijou_core.models import DEFAULT_MODEL, resolve_model
from bijou_core.prompt import PromptFormat
from bijou_core.runtime.grammar import SEPARATORS, calls_schema

DEVICES = ("airpods-pro", "omi", "rayban-stories")
PROMPT_STYLE = "compact"  # bijou's default prompt for devices with an adapter


@dataclass(frozen=True)
class Target:
    """One text to walk: the answer's tokens after its prompt's tokens."""

    text: str
    ids: list[int]
    prompt_ids: list[int]


@dataclass
class Walk:
    """The outcome of walking one target: accepted or not, and the time of each step in seconds."""

    accepted: bool = True
    core: list[float] = field(default_factory=list)  # mask computation + state advance
    apply: list[float] = field(default_factory=list)  # mask applied to a logits row

    @property
    def total(self) -> list[float]:
        return [core + apply for core, apply in zip(self.core, self.apply, strict=True)]


def allowed_in_bitmask(bitmask: torch.Tensor, token: int) -> bool:
    """Whether ``token``'s bit is set in an int32 token bitmask (xgrammar / outlines-core layout)."""
    return bool((int(bitmask.view(-1)[token >> 5]) >> (token & 31)) & 1)


class XGrammar:
    """xgrammar, compiled exactly as bijou's runtime compiled it (before llguidance); masks applied
    with ``apply_backend``."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int, apply_backend: str = "auto"):
        import xgrammar

        self.xgr = xgrammar
        self.apply_backend = apply_backend
        kernel = "" if apply_backend == "auto" else f" (apply: {apply_backend})"
        self.label = f"xgrammar {version('xgrammar')}{kernel}"
        self.info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self.compiler = xgrammar.GrammarCompiler(self.info, cache_enabled=False)
        self.bitmask = xgrammar.allocate_token_bitmask(1, vocab_size)
        self.eos = tokenizer.eos_token_id

    def warm_up(self, logits: torch.Tensor) -> None:
        self.xgr.apply_token_bitmask_inplace(logits, self.bitmask, backend=self.apply_backend)

    def compile(self, tools: list[dict[str, Any]]) -> Any:
        return self.compiler.compile_json_schema(
            calls_schema(tools), any_whitespace=False, separators=SEPARATORS, strict_mode=True
        )

    def walk(self, grammar: Any, target: Target, logits: torch.Tensor) -> Walk:
        matcher, walk = self.xgr.GrammarMatcher(grammar), Walk()
        for token in [*target.ids, self.eos]:
            t0 = time.perf_counter()
            matcher.fill_next_token_bitmask(self.bitmask)
            t1 = time.perf_counter()
            self.xgr.apply_token_bitmask_inplace(logits, self.bitmask, backend=self.apply_backend)
            t2 = time.perf_counter()
            accepted = matcher.accept_token(token)
            t3 = time.perf_counter()
            walk.core.append(t1 - t0 + t3 - t2)
            walk.apply.append(t2 - t1)
            if not (accepted and allowed_in_bitmask(self.bitmask, token)):
                walk.accepted = False
                return walk
        walk.accepted = matcher.is_terminated()
        return walk


class OutlinesCore:
    """outlines-core: a regex from the schema, an index over the vocabulary, one guide per answer."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, vocab_size: int):
        import outlines_core
        from outlines_core.kernels import torch as kernels

        self.oc, self.kernels = outlines_core, kernels
        self.label = f"outlines-core {version('outlines-core')}"
        self.vocabulary = outlines_core.Vocabulary(tokenizer.eos_token_id, byte_level_vocabulary(tokenizer))
        self.bitmask = kernels.allocate_token_bitmask(vocab_size)
        self.eos = tokenizer.eos_token_id

    def warm_up(self, logits: torch.Tensor) -> None:
        self.kernels.apply_token_bitmask_inplace(logits, self.bitmask)  # torch.compile's first call

    def regex(self, tools: list[dict[str, Any]], whitespace_pattern: str | None = None) -> str:
        schema = json.dumps(calls_schema(tools))
        return self.oc.json_schema.build_regex_from_schema(schema, whitespace_pattern=whitespace_pattern)

    def compile(self, tools: list[dict[str, Any]]) -> Any:
        return self.oc.Index(self.regex(tools), self.vocabulary)

    def walk(self, index: Any, target: Target, logits: torch.Tensor) -> Walk:
        guide, walk = self.oc.Guide(index), Walk()
        for token in [*target.ids, self.eos]:
            t0 = time.perf_counter()
            self.kernels.fill_next_token_bitmask(guide, self.bitmask)
            t1 = time.perf_counter()
            self.kernels.apply_token_bitmask_inplace(logits, self.bitmask)
            t2 = time.perf_counter()
            try:
                if token != self.eos:  # the end token has no transition (outlines-core issue 227)
                    guide.advance(token, return_tokens=False)
                advanced = True
            except ValueError:  # a token the guide does not allow
                advanced = False
            t3 = time.perf_counter()
            walk.core.append(t1 - t0 + t3 - t2)
            walk.apply.append(t2 - t1)
            if not (advanced and allowed_in_bitmask(self.bitmask, token)):
                walk.accepted = False
                return walk
        walk.accepted = guide.is_finished()
        return walk


def byte_level_vocabulary(tokenizer: PreTrainedTokenizerBase) -> dict[bytes, list[int]]:
    """Each regular token's bytes, as outlines-core's ``Vocabulary.from_pretrained`` builds them.

    ``from_pretrained`` fetches the tokenizer from the hub; this reads the local one instead. Added
    (special) tokens are left out, as ``from_pretrained`` does.
    """
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    added = set(tokenizer.added_tokens_decoder)
    vocabulary: dict[bytes, list[int]] = {}
    for token, token_id in tokenizer.get_vocab().items():
        if token_id not in added:
            vocabulary.setdefault(bytes(to_byte[char] for char in token), []).append(token_id)
    return vocabulary


def lmfe_tokenizer_data(tokenizer: PreTrainedTokenizerBase, use_bitmask: bool) -> Any:
    """lm-format-enforcer's tokenizer data, through its transformers integration.

    lm-format-enforcer 0.11.3 imports ``PreTrainedTokenizerBase`` from ``transformers.tokenization_utils``,
    which transformers 5 no longer has, and reports "transformers is not installed"; the fix
    (noamgat/lm-format-enforcer#175) is merged but not released. The name is put back first.
    """
    import transformers
    import transformers.tokenization_utils as legacy

    if not hasattr(legacy, "PreTrainedTokenizerBase"):
        legacy.PreTrainedTokenizerBase = transformers.PreTrainedTokenizerBase
    from lmformatenforcer.integrations.transformers import build_token_enforcer_tokenizer_data

    return build_token_enforcer_tokenizer_data(tokenizer, use_bitmask=use_bitmask)


class FormatEnforcer:
    """lm-format-enforcer: a JSON Schema character parser driven over the tokenizer's prefix tree.

    With a token list (the default), the mask is applied the way its transformers integration does,
    through transformers' ``PrefixConstrainedLogitsProcessor``; with ``use_bitmask=True`` the int32
    bitmask it returns is applied with xgrammar's CPU kernel (lm-format-enforcer has none of its own).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, use_bitmask: bool):
        from lmformatenforcer import JsonSchemaParser, TokenEnforcer
        from transformers.generation.logits_process import PrefixConstrainedLogitsProcessor

        self.parser_class, self.enforcer_class = JsonSchemaParser, TokenEnforcer
        self.processor_class = PrefixConstrainedLogitsProcessor
        self.use_bitmask = use_bitmask
        mode = "bitmask" if use_bitmask else "token list"
        self.label = f"lm-format-enforcer {version('lm-format-enforcer')} ({mode})"
        self.data = lmfe_tokenizer_data(tokenizer, use_bitmask)
        self.eos = tokenizer.eos_token_id
        self.input_ids = torch.zeros((1, 1), dtype=torch.long)

    def warm_up(self, logits: torch.Tensor) -> None:
        self._apply(logits, self.enforcer_class(self.data, self.parser_class(None)).get_allowed_tokens([0]))

    def compile(self, tools: list[dict[str, Any]]) -> Any:
        schema = calls_schema(tools)
        self.parser_class(schema)  # what can fail early; the parser itself works lazily, per character
        return schema

    def _apply(self, logits: torch.Tensor, allowed: Any) -> torch.Tensor:
        if self.use_bitmask:
            import xgrammar

            xgrammar.apply_token_bitmask_inplace(logits, allowed.allowed_tokens[None, :])
            return logits
        processor = self.processor_class(lambda batch_id, sent: allowed.allowed_tokens, num_beams=1)
        return processor(self.input_ids, logits)

    def walk(self, schema: Any, target: Target, logits: torch.Tensor) -> Walk:
        enforcer, walk = self.enforcer_class(self.data, self.parser_class(schema)), Walk()
        sequence = list(target.prompt_ids)
        for token in [*target.ids, self.eos]:
            t0 = time.perf_counter()
            allowed = enforcer.get_allowed_tokens(sequence)  # advances with the last token, then masks
            t1 = time.perf_counter()
            self._apply(logits, allowed)
            t2 = time.perf_counter()
            walk.core.append(t1 - t0)
            walk.apply.append(t2 - t1)
            if not allowed.is_token_allowed(token):
                walk.accepted = False
                return walk
            sequence.append(token)
        return walk


Library = XGrammar | OutlinesCore | FormatEnforcer


def targets(device: Device, tokenizer: PreTrainedTokenizerBase) -> list[Target]:
    """The canonical answers of the device's eval set, each after its (compact) prompt."""
    fmt = PromptFormat.for_tokenizer(tokenizer, PROMPT_STYLE, device.name)
    out = []
    for record in device.eval_set:
        text = dumps(record.answers)
        prompt = fmt.prompt(tokenizer, device.tools, record.query)
        out.append(Target(text, encode(tokenizer, text), encode(tokenizer, prompt)))
    return out


def encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def mutations(call: dict[str, Any], parameters: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(kind, arguments or name change)`` edits of one call that should make it invalid."""
    properties, required = parameters.get("properties", {}), parameters.get("required", [])
    edits: list[tuple[str, dict[str, Any]]] = [
        ("unknown tool", {"name": call["name"] + "_x"}),
        ("extra argument", {"arguments": {**call["arguments"], "bogus": 1}}),
    ]
    if required:
        kept = {k: v for k, v in call["arguments"].items() if k != required[0]}
        edits.append(("missing required argument", {"arguments": kept}))
    for name in call["arguments"]:
        schema = properties.get(name, {})
        if "enum" in schema:
            edits.append(("value outside enum", {"arguments": {**call["arguments"], name: "nope"}}))
        elif schema.get("type") == "string":
            edits.append(("number for a string", {"arguments": {**call["arguments"], name: 5}}))
        if schema.get("type") == "integer" and "maximum" in schema:
            above = {**call["arguments"], name: schema["maximum"] + 1}
            edits.append(("integer above maximum", {"arguments": above}))
    return edits


def invalid_calls(device: Device) -> list[tuple[str, str]]:
    """``(kind, text)`` of call lists that bijou's validator rejects, edited from the eval answers."""
    out: dict[str, str] = {}
    for record in device.eval_set:
        if not record.answers:
            continue
        first = record.answers[0]
        for kind, edit in mutations(first, device.tools_by_name[first["name"]]["parameters"]):
            calls = [{**first, **edit}, *record.answers[1:]]
            if device.validator.check_calls(calls):
                out.setdefault(dumps(calls), kind)
    return [(kind, text) for text, kind in out.items()]


def jump_forward(
    xgr: XGrammar, grammar: Any, tokenizer: PreTrainedTokenizerBase, text: str
) -> tuple[int, int, int]:
    """Walk ``text`` taking xgrammar's jump-forward string wherever it matches the text.

    Returns (characters supplied by jump-forward, tokens the model chose, jump-forward chunks). The
    model's tokens are those of the remaining text, tokenized afresh after each jump.
    """
    matcher = xgr.xgr.GrammarMatcher(grammar)
    pieces = xgr.info.decoded_vocab
    position = forced = model_tokens = chunks = 0
    while position < len(text):
        jump = matcher.find_jump_forward_string()
        if jump and text.startswith(jump, position):
            matcher.accept_string(jump)
            position, forced, chunks = position + len(jump), forced + len(jump), chunks + 1
            continue
        consumed = b""
        for token in encode(tokenizer, text[position:]):  # one token, more if it ends inside a character
            if not matcher.accept_token(token):
                raise RuntimeError(f"xgrammar rejected {text!r} at character {position}")
            model_tokens += 1
            consumed += pieces[token]
            try:
                position += len(consumed.decode())
                break
            except UnicodeDecodeError:
                continue
    return forced, model_tokens, chunks


def decode_steps(model: Any, target: Target, steps: int) -> list[float]:
    """Seconds of each one-token forward step with a KV cache, after ``target``'s prompt (3 warm-up steps)."""
    times = []
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([target.prompt_ids]), use_cache=True)
        for step in range(steps + 3):
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            started = time.perf_counter()
            out = model(input_ids=token, cache=out.cache, use_cache=True)
            if step >= 3:
                times.append(time.perf_counter() - started)
    return times


@dataclass
class Results:
    """Everything measured, keyed by library label and device name."""

    decode: list[float] = field(default_factory=list)
    setup: dict[str, tuple[float, float]] = field(default_factory=dict)
    compile_s: dict[tuple[str, str], float] = field(default_factory=dict)
    walks: dict[tuple[str, str], list[Walk]] = field(default_factory=dict)
    invalid: dict[str, int] = field(default_factory=dict)  # kind -> how many invalid calls
    let_through: dict[tuple[str, str], int] = field(default_factory=dict)  # (label, kind) -> count
    jumps: list[tuple[str, int, int, int, int, int, int]] = field(default_factory=list)
    compact_regex_rejects: dict[str, int] = field(default_factory=dict)


def set_up(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int, logits: torch.Tensor, results: Results
) -> list[Library]:
    """Build each library's vocabulary index and warm its mask kernel, timing both."""
    makers: list[Callable[[], Library]] = [
        lambda: XGrammar(tokenizer, vocab_size),
        lambda: XGrammar(tokenizer, vocab_size, apply_backend="torch_compile"),
        lambda: OutlinesCore(tokenizer, vocab_size),
        lambda: FormatEnforcer(tokenizer, use_bitmask=False),
        lambda: FormatEnforcer(tokenizer, use_bitmask=True),
    ]
    libraries = []
    for make in makers:
        started = time.perf_counter()
        library = make()
        built = time.perf_counter()
        library.warm_up(logits)
        results.setup[library.label] = (built - started, time.perf_counter() - built)
        print(
            f"{library.label}: vocabulary {built - started:.2f} s, kernel {time.perf_counter() - built:.2f} s"
        )
        libraries.append(library)
    return libraries


def measure_device(
    device: Device,
    libraries: list[Library],
    tokenizer: PreTrainedTokenizerBase,
    logits: torch.Tensor,
    results: Results,
) -> None:
    """Compile and walk every library on one device's answers and on invalid calls made from them."""
    answers = targets(device, tokenizer)
    invalid = invalid_calls(device)
    for kind, _ in invalid:
        results.invalid[kind] = results.invalid.get(kind, 0) + 1
    for library in libraries:
        started = time.perf_counter()
        grammar = library.compile(device.tools)
        results.compile_s[library.label, device.name] = time.perf_counter() - started
        library.walk(grammar, answers[0], logits)  # warm-up
        walks = results.walks[library.label, device.name] = [
            library.walk(grammar, t, logits) for t in answers
        ]
        for kind, text in invalid:
            if library.walk(
                grammar, Target(text, encode(tokenizer, text), answers[0].prompt_ids), logits
            ).accepted:
                key = (library.label, kind)
                results.let_through[key] = results.let_through.get(key, 0) + 1
        if isinstance(library, XGrammar) and library.apply_backend == "auto":
            counts = [jump_forward(library, grammar, tokenizer, t.text) for t in answers]
            forced, chosen, chunks = (sum(column) for column in zip(*counts, strict=True))
            characters, tokens = sum(len(t.text) for t in answers), sum(len(t.ids) for t in answers)
            results.jumps.append((device.name, len(answers), characters, forced, tokens, chosen, chunks))
        if isinstance(library, OutlinesCore):
            compact = library.regex(device.tools, whitespace_pattern="")
            rejects = sum(not re.fullmatch(compact, t.text) for t in answers)
            results.compact_regex_rejects[device.name] = rejects
        rejected = sum(not w.accepted for w in walks)
        print(f"{device.name} / {library.label}: {rejected} of {len(answers)} answers rejected", flush=True)


def all_walks(results: Results, label: str) -> list[Walk]:
    return [w for (name, _), walks in results.walks.items() if name == label for w in walks]


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def machine() -> str:
    """Cores, CPU model and torch, for the table's header."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    cpu = model.group(1).strip() if model else "unknown CPU"
    threads = torch.get_num_threads()
    return (
        f"{len(os.sched_getaffinity(0))} cores (nproc), {cpu}, torch {torch.__version__} ({threads} threads)"
    )


def render(results: Results, model: str, devices: list[Device], vocab_size: int) -> str:
    """The Markdown report."""
    labels = list(results.setup)
    step = float(np.mean(results.decode))
    names = ("xgrammar", "outlines-core", "lm-format-enforcer", "transformers")
    versions = ", ".join(f"{name} {version(name)}" for name in names)
    lines = [
        f"# Constrained decoding: per-token overhead on {model}",
        "",
        f"Measured by `benchmarks/constrained_overhead.py` on {datetime.date.today().isoformat()}; "
        f"machine: {machine()}; {versions}.",
        "",
        "Grammar: the JSON Schema of a call list to each device's tools (`calls_schema`). Targets: the "
        f"canonical answers (`dumps`) of the eval sets of {', '.join(d.name for d in devices)}, tokenized by "
        f"the model's tokenizer ({vocab_size:,} tokens). Each step computes the mask of allowed next tokens, "
        "applies it to a logits row and advances with the answer's token; a last step must allow the end "
        "token. All libraries run side by side in one process, device by device, with decode steps of the "
        "model measured before each device's walks.",
        "",
        f"Decode step of the model (transformers, fp32, KV cache after a {PROMPT_STYLE} prompt, 1 token): "
        f"mean {ms(step)} ms, median {ms(float(np.median(results.decode)))} ms "
        f"over {len(results.decode)} steps.",
        "",
        "## Per-token cost",
        "",
        "| library | steps | mask + advance mean (ms) | p95 (ms) | apply to logits mean (ms) "
        "| total mean (ms) | total p95 (ms) | total mean / decode step | answers rejected |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in labels:
        runs = all_walks(results, label)
        core = np.array([s for w in runs for s in w.core])
        apply = np.array([s for w in runs for s in w.apply])
        total = core + apply
        rejected = sum(not w.accepted for w in runs)
        lines.append(
            f"| {label} | {len(total)} | {ms(core.mean())} | {ms(np.percentile(core, 95))} "
            f"| {ms(apply.mean())} | {ms(total.mean())} | {ms(np.percentile(total, 95))} "
            f"| {total.mean() / step:.2%} | {rejected} of {len(runs)} |"
        )
    totals = {label: np.mean([s for w in all_walks(results, label) for s in w.total]) for label in labels}
    strict_ones = [
        label for label in labels if not any(results.let_through.get((label, k)) for k in results.invalid)
    ]
    fastest = min(totals, key=totals.get)
    lines += [
        "",
        f"Lowest total per-token cost: {fastest}. Letting no invalid call of the table below through: "
        f"{', '.join(strict_ones) or 'none'}.",
        "",
        "## One-time setup",
        "",
        "| library | vocabulary index (s) | mask kernel warm-up (s) | "
        + " | ".join(f"compile {d.name} (ms)" for d in devices)
        + " |",
        "| --- | ---: | ---: | " + " | ".join("---:" for _ in devices) + " |",
    ]
    for label in labels:
        vocabulary, kernel = results.setup[label]
        compiles = " | ".join(f"{results.compile_s[label, d.name] * 1e3:.1f}" for d in devices)
        lines.append(f"| {label} | {vocabulary:.2f} | {kernel:.2f} | {compiles} |")
    lines += [
        "",
        "## Per device: total per-token cost (mask + advance + apply)",
        "",
        "| device | library | steps | mean (ms) | p95 (ms) | answers rejected |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for d in devices:
        for label in labels:
            runs = results.walks[label, d.name]
            total = np.array([s for w in runs for s in w.total])
            rejected = sum(not w.accepted for w in runs)
            lines.append(
                f"| {d.name} | {label} | {len(total)} | {ms(total.mean())} "
                f"| {ms(np.percentile(total, 95))} | {rejected} of {len(runs)} |"
            )
    lines += [
        "",
        "## Invalid calls let through",
        "",
        "Eval answers mutated so that bijou's validator (`CallValidator`) rejects them; a library lets one "
        "through when it accepts every token and then the end token.",
        "",
        "| mutation | calls | " + " | ".join(labels) + " |",
        "| --- | ---: | " + " | ".join("---:" for _ in labels) + " |",
    ]
    for kind, count in sorted(results.invalid.items()):
        through = " | ".join(str(results.let_through.get((label, kind), 0)) for label in labels)
        lines.append(f"| {kind} | {count} | {through} |")
    lines += [
        "",
        "## xgrammar jump-forward",
        "",
        "Walking each answer: wherever `find_jump_forward_string()` is non-empty and matches the answer, it "
        "is taken as one chunk; otherwise the model supplies the next token of the remaining text.",
        "",
        "| device | answers | characters | supplied by jump-forward | answer tokens "
        "| tokens the model still chooses | jump-forward chunks |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, answers, characters, forced, tokens, chosen, chunks in results.jumps:
        lines.append(
            f"| {name} | {answers} | {characters} | {forced} ({forced / characters:.1%}) | {tokens} "
            f"| {chosen} ({chosen / tokens:.1%}) | {chunks} |"
        )
    answers = {d.name: len(results.walks[labels[0], d.name]) for d in devices}
    strict = ", ".join(f"{n} of {answers[d]} ({d})" for d, n in results.compact_regex_rejects.items())
    lines += [
        "",
        "## Notes",
        "",
        '- outlines-core has no separators option: with `whitespace_pattern=""` its regex allows `,` and `:` '
        f"only without a following space and rejects {strict} canonical answers (checked with Python's "
        "`re`), so it runs with its default `[ ]?`, which allows an optional space at every token boundary "
        "(looser than bijou's layout). Its regex ignores `minimum`/`maximum`. Its torch mask kernel is "
        "`torch.compile`d on first use (the warm-up column; torch.compile caches in the process and on "
        "disk, so that column depends on what was compiled before: the first run on a machine pays most).",
        "- xgrammar's `apply_token_bitmask_inplace` picks its scalar C++ CPU kernel for CPU logits "
        '(`backend="auto"`, as bijou\'s runtime calls it); the second xgrammar row passes '
        '`backend="torch_compile"`, the same kind of kernel outlines-core uses.',
        "- lm-format-enforcer 0.11.3's transformers integration fails to import under transformers 5 "
        '("transformers is not installed": `PreTrainedTokenizerBase` left `transformers.tokenization_utils`; '
        "fixed upstream in noamgat/lm-format-enforcer#175, unreleased); the script puts the name back "
        "before importing it. It has no compile step: the schema is parsed character by character as "
        "tokens come, so its compile column is only the parser's construction.",
        "- Means and p95 are over all steps of all answers. The machine is shared: compare the ratios of one "
        "run rather than absolute times across runs.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--decode-steps", type=int, default=15, help="decode steps measured per device")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/constrained-decoding.md"))
    args = parser.parse_args()

    model_path = resolve_model(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    vocab_size = AutoConfig.from_pretrained(model_path).vocab_size
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    registry = load_registry()
    devices = [registry.get(name) for name in DEVICES]
    logits = torch.zeros((1, vocab_size))

    results = Results()
    libraries = set_up(tokenizer, vocab_size, logits, results)
    for device in devices:
        results.decode += decode_steps(model, targets(device, tokenizer)[0], args.decode_steps)
        measure_device(device, libraries, tokenizer, logits, results)

    text = render(results, args.model, devices, vocab_size)
    with atomic_writer(args.output) as fh:
        fh.write(text)
    print(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
