"""Publishing a trained adapter or model folder on the Hugging Face hub, with a generated model card."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import BijouError
from ..eval_results import EvalResults, Run, markdown_table
from ..files import atomic_writer
from ..manifest import Manifest
from ..prompt import PromptFormat

IGNORED = ["checkpoints/*", ".*", "*/.*"]  # training checkpoints and half-written temporary files
HIDDEN_SETTINGS = ("output_dir", "resume", "extra", "logging_steps", "save_steps")
EXAMPLE_QUERY = "turn it off"


def upload_folder(folder: str | Path, repo_id: str, private: bool, card: str) -> str:
    """Write ``card`` as the folder's README.md, create ``repo_id`` if needed and upload the folder.

    Returns the repo's URL. Offline or without a token: one line saying so, and where the local copy is.
    """
    from huggingface_hub import HfApi, constants, get_token

    folder = Path(folder)
    if not folder.is_dir():
        raise BijouError(f"{folder}: no such folder to upload")
    with atomic_writer(folder / "README.md") as fh:
        fh.write(card)
    failed = f"cannot upload {folder} to the Hugging Face hub repo {repo_id!r}"
    kept = f"the local copy is complete in {folder}"
    if constants.is_offline_mode():
        raise BijouError(f"{failed}: HF_HUB_OFFLINE is set; {kept}")
    token = get_token()
    if token is None:
        raise BijouError(f"{failed}: not logged in (run 'hf auth login' or set HF_TOKEN); {kept}")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id, private=private, exist_ok=True)
        api.upload_folder(
            folder_path=folder,
            repo_id=repo_id,
            commit_message="Upload from bijou",
            ignore_patterns=IGNORED,
        )
    except Exception as exc:
        raise BijouError(f"{failed}: {_reason(exc)}; {kept}") from None
    return str(url)


def _reason(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__


def model_card(manifest: Manifest, repo_id: str | None = None) -> str:
    """A README.md for the hub from a bijou manifest (an adapter's or a merged model's)."""
    from huggingface_hub import ModelCardData

    adapter = manifest.kind == "adapter"
    device = manifest.device
    base = manifest.base_model.name if manifest.base_model else "unknown"
    tags = ["bijou", "function-calling", "voice-commands"] + (["lora", device] if adapter and device else [])
    data = ModelCardData(
        library_name="peft" if adapter else "transformers",
        base_model=base if _is_hub_id(base) else None,
        pipeline_tag="text-generation",
        tags=tags,
    )
    title = f"bijou adapter: {device}" if adapter else "bijou function-calling model"
    sections = [
        f"---\n{data.to_yaml()}\n---\n",
        f"# {title}\n",
        _what_it_is(manifest, adapter),
        _base_section(manifest),
        _data_section(manifest.data),
        _training_section(manifest.training),
        _scores_section(manifest, adapter),
        _usage_section(manifest, adapter, repo_id or "REPO_ID"),
    ]
    return "\n".join(s for s in sections if s)


def _is_hub_id(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", name)) and not Path(name).exists()


def _what_it_is(manifest: Manifest, adapter: bool) -> str:
    made = f"Made with bijou {manifest.bijou_version or ''}".rstrip()
    if adapter:
        plugin = manifest.plugin_package
        return (
            f"A LoRA adapter that turns spoken commands for the **{manifest.device}** device "
            f"(version {manifest.device_version}"
            + (f", plugin package `{plugin}`" if plugin else "")
            + ") into validated JSON function calls "
            '`[{"name": ..., "arguments": {...}}]`. '
            f"{made}; tool definitions hash `{manifest.tools_hash}`.\n"
        )
    return (
        "A small language model fine-tuned for function calling: given tool definitions and a spoken "
        'command, it answers with a JSON list of calls `[{"name": ..., "arguments": {...}}]`, '
        f"or `[]` when no tool applies. The LoRA is merged into the weights. {made}.\n"
    )


def _base_section(manifest: Manifest) -> str:
    base = manifest.base_model
    lines = ["## Base model\n", f"- name: `{base.name if base else None}`"]
    if base and base.fingerprint:
        lines.append(f"- weights fingerprint: `{base.fingerprint}`")
    fmt = manifest.prompt_format
    if fmt:
        lines.append(
            f"- prompt format: bijou `{fmt.get('style')}` style, version {fmt.get('version')}"
            + (" (the tokenizer's chat template)" if fmt.get("chat_template") else f" ({_turns(fmt)} turns)")
        )
    return "\n".join(lines) + "\n"


def _data_section(data: dict[str, Any] | None) -> str:
    if not data:
        return ""
    if "synthesized" in data:
        text = (
            f"{data['synthesized']} examples synthesized from the device's templates "
            f"(`{data.get('templates')}`, seed {data.get('seed')})"
        )
        if "no_tool_share" in data:
            text += (
                f", {data['no_tool_share']:.0%} of them needing no tool and "
                f"{data.get('multi_share', 0):.0%} two commands in one"
            )
            if "small_talk_share" in data:
                text += (
                    f"; {data['small_talk_share']:.0%} small talk (answered `[]`) and "
                    f"{data.get('speech_share', 0):.0%} rewritten as speech transcripts"
                )
        text += "."
    else:
        text = f"{data.get('records')} records from `{Path(str(data.get('path'))).name}`."
    return f"## Training data\n\n{text}\n"


def _training_section(training: dict[str, Any] | None) -> str:
    if not training:
        return ""
    rows = [
        f"| {key} | {', '.join(map(str, value)) if isinstance(value, list) else value} |"
        for key, value in training.items()
        if key not in HIDDEN_SETTINGS
    ]
    return "## Training\n\n| setting | value |\n| --- | --- |\n" + "\n".join(rows) + "\n"


def _scores_section(manifest: Manifest, adapter: bool) -> str:
    scores = manifest.eval
    if not scores:
        return ""
    results = EvalResults(
        device=manifest.device or "model",
        dataset=scores.get("dataset", "eval set"),
        runs=[Run(name="base+adapter" if adapter else "model", summary=scores)],
    )
    return "## Scores\n\n" + markdown_table(results).replace("### ", "", 1)


def _usage_section(manifest: Manifest, adapter: bool, repo_id: str) -> str:
    imports = ["from transformers import AutoModelForCausalLM, AutoTokenizer"]
    if adapter:
        device = manifest.device
        cli = [
            f"pip install bijou-core {manifest.plugin_package or ''}".rstrip(),
            f"hf download {repo_id} --local-dir adapters/{device}",
            f"bijou devices eval {device} --adapter adapters/{device}",
            f"bijou export gguf --adapter adapters/{device}   # a GGUF LoRA for llama.cpp",
        ]
        base = manifest.base_model.name if manifest.base_model else "BASE_MODEL"
        base_code = json.dumps(base)
        if not _is_hub_id(base):  # a name registered in bijou, or a local folder
            imports.append("from bijou_core.models import resolve_model")
            base_code = f"resolve_model({base_code})"
        imports.insert(0, "from peft import PeftModel")
        load = [
            f"base = AutoModelForCausalLM.from_pretrained({base_code})",
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
            f'model = PeftModel.from_pretrained(base, "{repo_id}")',
        ]
    else:
        cli = [
            "pip install bijou-core",
            f"bijou devices train DEVICE --base {repo_id}",
            f"bijou export gguf --model {repo_id} --methods q4_k_m,q8_0",
        ]
        load = [
            f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")',
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
        ]
    code = [
        *imports,
        "",
        *load,
        "",
        _prompt_code(manifest),
        'ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids',
        "out = model.generate(ids, max_new_tokens=128, do_sample=False)",
        "print(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))",
    ]
    library = "transformers and PEFT" if adapter else "transformers"
    return (
        "## Usage\n\nWith bijou:\n\n```bash\n" + "\n".join(cli) + "\n```\n\n"
        f"With {library}:\n\n```python\n" + "\n".join(code) + "\n```\n"
    )


def _turns(fmt: dict[str, Any]) -> str:
    return fmt.get("turns", "chatml")  # manifests from before Gemma record none: ChatML


def _prompt_code(manifest: Manifest) -> str:
    """The prompt the model was trained on: literal when bijou renders it without the tokenizer."""
    fmt = manifest.prompt_format
    style, device, numbers = fmt.get("style", "full"), fmt.get("device"), fmt.get("digits", False)
    if style == "compact" and not fmt.get("chat_template"):
        rendered = PromptFormat(style, device, turns=_turns(fmt), digits=numbers).prompt(
            None, None, EXAMPLE_QUERY
        )
        return f"prompt = {rendered!r}"
    return (
        "from bijou_core.prompt import PromptFormat\n\n"
        "tools = [...]  # JSON-Schema tool definitions\n"
        f"fmt = PromptFormat.for_tokenizer(tokenizer, {style!r}, {device!r}, digits={numbers!r})\n"
        f"prompt = fmt.prompt(tokenizer, tools, {EXAMPLE_QUERY!r})"
    )
