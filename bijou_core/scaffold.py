"""``bijou plugin new``: scaffold a complete, installable device plugin package.

The package has the layout of the plugins that ship with bijou (``pyproject.toml`` with the ``bijou``
entry point, ``src/bijou_NAME/{__init__.py, device.yaml, tools.json, templates.yaml, eval.jsonl,
simulator.py}``, ``README.md``, ``tests/``), rendered from the template files of
:mod:`bijou_core.plugin_template`. Without a tools file it holds a small example device; with one,
the templates, eval set and simulator are derived from the tools. Either way the generated device passes
the conformance checks of ``bijou devices check`` before anything is written, and the package is
written atomically (built beside the target, then renamed).
"""

from __future__ import annotations

import json
import keyword
import os
import re
import secrets
import shutil
import types
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from itertools import pairwise
from pathlib import Path
from string import Template
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from .conformance import failures
from .devices import MAX_NAME, NAME_RE, DeviceRegistry
from .errors import BijouError, at
from .files import dumps_record, iter_jsonl, load_json, load_yaml
from .plugin_api import DeviceSpec, hookimpl
from .plugins import Plugins
from .schema import check_tools
from .simulator import DeviceSimulator

TEMPLATE = files("bijou_core.plugin_template")  # the package's files, as `bijou plugin new` renders them
SCALAR_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
PY_TYPES = {**SCALAR_TYPES, "array": "list", "object": "dict"}


@dataclass
class PluginSpec:
    """Everything a generated plugin is made of, before it is rendered to files."""

    name: str
    display_name: str
    description: str
    tools: list[dict[str, Any]]
    templates: dict[str, Any]
    eval_set: list[dict[str, Any]]
    simulator: str
    simulator_tests: str
    derived: bool

    @property
    def package(self) -> str:
        return f"bijou-{self.name}"

    @property
    def module(self) -> str:
        return "bijou_" + self.name.replace("-", "_")

    @property
    def class_name(self) -> str:
        return simulator_class_name(self.name)

    @property
    def free_text(self) -> list[str]:
        return [
            f"{tool['name']}.{param}"
            for tool in self.tools
            for param, schema in tool["parameters"]["properties"].items()
            if schema.get("type") == "string" and "enum" not in schema
        ]


def template(path: str) -> Template:
    """One ``*.tmpl`` file of :data:`TEMPLATE` (``$name``-style placeholders)."""
    return Template((TEMPLATE / path).read_text(encoding="utf-8"))


@cache
def wording() -> dict[str, Any]:
    """Phrasing frames and generic no-tool commands of derived plugins (``derived/wording.yaml``)."""
    return load_yaml(TEMPLATE / "derived/wording.yaml")


# -- names ------------------------------------------------------------------------------------


def check_name(name: str) -> None:
    """A device name is lowercase letters, digits and dashes (it names the package and module)."""
    if not NAME_RE.fullmatch(name):
        raise BijouError(f"plugin name {name!r}: expected lowercase letters, digits and dashes, e.g. my-ring")
    if len(name) > MAX_NAME:
        raise BijouError(f"plugin name {name[:20]!r}...: longer than {MAX_NAME} characters")


def simulator_class_name(name: str) -> str:
    """``my-ring`` -> ``MyRingSimulator`` (``3d-glasses`` -> ``Device3dGlassesSimulator``)."""
    camel = "".join(part.capitalize() for part in name.split("-"))
    return f"{'Device' if camel[:1].isdigit() else ''}{camel}Simulator"


def words(identifier: str) -> str:
    """``set_do_not_disturb`` or ``setDoNotDisturb`` -> ``set do not disturb``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", identifier)
    return " ".join(spaced.replace("_", " ").replace("-", " ").lower().split())


# -- tools ------------------------------------------------------------------------------------


def load_tools(path: Path) -> list[dict[str, Any]]:
    """Tools from a bijou tools file or an OpenAI-style ``[{"type": "function", "function": ...}]``."""
    source = os.fspath(path)
    data = load_json(path)
    if isinstance(data, list):
        data = [_unwrap(item) for item in data]
    tools = check_tools(data, source)
    for index, tool in enumerate(tools):
        if keyword.iskeyword(tool["name"]) or hasattr(DeviceSimulator, tool["name"]):
            raise at(
                source,
                None,
                f"$[{index}].name: {tool['name']!r} cannot be a simulator method name; rename the tool",
            )
    return tools


def _unwrap(item: Any) -> Any:
    """An OpenAI tool as a bijou tool (the function, a missing description or parameters filled)."""
    if not (
        isinstance(item, dict) and item.get("type") == "function" and isinstance(item.get("function"), dict)
    ):
        return item
    function = item["function"]
    parameters = dict(function.get("parameters") or {})
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    name = function.get("name")
    description = function.get("description") or (
        words(name).capitalize() + "." if isinstance(name, str) else ""
    )
    return {"name": name, "description": description, "parameters": parameters}


# -- derived templates and eval set ----------------------------------------------------------------


def _sayable(schema: dict[str, Any]) -> bool:
    return "enum" in schema or schema.get("type") in SCALAR_TYPES


def example_value(schema: dict[str, Any], index: int = 0) -> Any:
    """A valid value of a parameter, varied by ``index`` (enum member, number in range, ...)."""
    if "default" in schema and index == 0:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][index % len(schema["enum"])]
    kind = schema.get("type")
    if kind == "boolean":
        return index % 2 == 0
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", max(low, 0) + 100)
        return int(low + (high - low) * (index % 3 + 1) // 4)
    if kind == "string":
        options = schema.get("examples") or ["example", "another example"]
        return options[index % len(options)]
    if kind == "array":
        return [example_value(schema["items"])] if schema.get("minItems") and "items" in schema else []
    if kind == "object":
        props = schema.get("properties", {})
        return {p: example_value(props.get(p, {})) for p in schema.get("required", [])}
    return None


def _fixed_value(tool: str, param: str, schema: dict[str, Any]) -> Any:
    """A fixed argument for a parameter no slot can say (arrays, objects)."""
    value = example_value(schema)
    bare = {k: v for k, v in schema.items() if k not in ("default", "description")}
    if not Draft202012Validator(bare).is_valid(value):
        raise BijouError(
            f"tool {tool}: cannot make up a value for parameter {param!r} ({schema.get('type')}); "
            "give it a default or examples in the tools file"
        )
    return value


def derive_templates(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """Templates from tool and parameter names: enough phrasings per tool, every value reachable."""
    values: dict[str, dict[str, list[str]]] = {}
    lists: dict[str, list[str]] = {}
    phrasings: dict[str, list[Any]] = {}
    for tool in tools:
        name, props = tool["name"], tool["parameters"]["properties"]
        required = tool["parameters"].get("required", [])
        for param, schema in props.items():
            key = f"{name}.{param}"
            if "enum" in schema:
                values[key] = {str(v): [str(v).replace("_", " ")] for v in schema["enum"]}
            elif schema.get("type") == "boolean":
                values[key] = {"true": ["on", "enabled"], "false": ["off", "disabled"]}
            elif schema.get("type") == "string":
                lists[key] = [str(v) for v in schema.get("examples", [])] or [
                    f"{words(param)} {n}" for n in wording()["placeholders"]
                ]
        # Alternate frames state the required parameters only, or every sayable one too.
        fixed = {p: _fixed_value(name, p, props[p]) for p in required if not _sayable(props[p])}
        variants = [
            " ".join([words(name), *(f"{words(p)} {{{p}}}" for p in stated if _sayable(props[p]))])
            for stated in (required, list(props))
        ]
        phrases = [frame.format(do=variants[i % 2]) for i, frame in enumerate(wording()["template_frames"])]
        entries = [{"text": p, "args": fixed} if fixed else p for p in dict.fromkeys(phrases)]
        # A parameter no slot can say (array, object) is stated by a phrasing of its own.
        for param, schema in props.items():
            if param not in required and not _sayable(schema):
                args = {**fixed, param: _fixed_value(name, param, schema)}
                entries.append({"text": f"{variants[0]} with the usual {words(param)}", "args": args})
        phrasings[name] = entries
    templates: dict[str, Any] = {"format": 1, "values": values, "lists": lists, "tools": phrasings}
    templates["no_tool"] = apart_from(wording()["generic_no_tool"], tools)
    return {k: v for k, v in templates.items() if v}


def apart_from(commands: list[str], tools: list[dict[str, Any]]) -> list[str]:
    """The generic no-tool ``commands`` that say no tool's name (every word of it): "lock the
    front door" is left out for a device with a ``lock_door`` tool, whose call it may well be."""
    names = [set(words(tool["name"]).split()) for tool in tools]
    return [c for c in commands if not any(name <= set(words(c).split()) for name in names)]


def _spoken(templates: dict[str, Any], tool: str, param: str, value: Any) -> str:
    """The first spoken form of an enum or boolean value (the value itself otherwise)."""
    forms = templates.get("values", {}).get(f"{tool}.{param}", {})
    key = str(value).lower() if isinstance(value, bool) else str(value)
    return forms[key][0] if key in forms else str(value)


def _eval_command(
    tool: dict[str, Any], templates: dict[str, Any], all_params: bool, index: int
) -> tuple[str, dict[str, Any]]:
    """A command in eval wording (``verb with X set to V``) and its call's arguments."""
    name, props = tool["name"], tool["parameters"]["properties"]
    stated = list(props) if all_params else tool["parameters"].get("required", [])
    arguments: dict[str, Any] = {}
    said = []
    for param, schema in props.items():
        if param not in stated:
            continue
        if not _sayable(schema):
            if param in tool["parameters"].get("required", []):
                arguments[param] = _fixed_value(name, param, schema)
            continue
        if schema.get("type") == "string" and "enum" not in schema:
            options = templates["lists"][f"{name}.{param}"]
            value: Any = options[index % len(options)]
        else:
            value = example_value({k: v for k, v in schema.items() if k != "default"}, index + 1)
        arguments[param] = value
        said.append(f"{words(param)} set to {_spoken(templates, name, param, value)}")
    return words(name) + (" with " + " and ".join(said) if said else ""), arguments


def derive_eval_set(tools: list[dict[str, Any]], templates: dict[str, Any]) -> list[dict[str, Any]]:
    """A small starting eval set in wording the templates do not use (to be extended by hand)."""
    records = []
    frames = wording()["eval_frames"]
    for i, tool in enumerate(tools):
        for variant in (0, 1):
            k = 2 * i + variant
            do, arguments = _eval_command(tool, templates, bool(variant), k)
            query = frames[k % len(frames)].format(do=do)
            records.append({"query": query, "answers": [{"name": tool["name"], "arguments": arguments}]})
    for i, (first, second) in enumerate(list(pairwise(tools))[:2]):
        do_a, args_a = _eval_command(first, templates, False, i + 1)
        do_b, args_b = _eval_command(second, templates, False, i + 2)
        calls = [{"name": first["name"], "arguments": args_a}, {"name": second["name"], "arguments": args_b}]
        records.append({"query": wording()["multi_frame"].format(a=do_a, b=do_b), "answers": calls})
    count = max(2, -(-len(records) * 15 // 100))
    records += [
        {"query": q, "answers": []} for q in apart_from(wording()["generic_eval_no_tool"], tools)[:count]
    ]
    return records


# -- derived simulator ---------------------------------------------------------------------------


def py_literal(value: Any) -> str:
    """Python source for a JSON value, formatted as ruff would (double quotes)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py_literal(str(k))}: {py_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _docstring(description: str) -> str:
    return description.replace("\\", "\\\\").replace('"""', "'''").strip() or "Run the tool."


def _signature(name: str, params: list[str], returns: str = "dict[str, Any]") -> str:
    line = f"    def {name}({', '.join(['self', *params])}) -> {returns}:"
    if len(line) <= 100:
        return line
    inner = "".join(f"        {p},\n" for p in ["self", *params])
    return f"    def {name}(\n{inner}    ) -> {returns}:"


def _method(tool: dict[str, Any]) -> str:
    name, props = tool["name"], tool["parameters"]["properties"]
    required = tool["parameters"].get("required", [])
    lines = [f'        """{_docstring(tool["description"])}"""']
    if not props:
        lines += [
            "        # TODO: report what the device reports; this returns the simulated state.",
            "        return dict(self.state)",
        ]
        return "\n".join([_signature(name, []), *lines])
    if not all(p.isidentifier() and not keyword.iskeyword(p) for p in props):
        lines += [
            "        # TODO: do what the device does; this keeps the last value of each argument.",
            "        self.state.update(arguments)",
            "        return dict(arguments)",
        ]
        return "\n".join([_signature(name, ["**arguments: Any"]), *lines])
    params = []
    for param in sorted(props, key=lambda p: p not in required):
        schema = props[param]
        hint = PY_TYPES.get(schema.get("type"), "Any")
        if param in required:
            params.append(f"{param}: {hint}")
        elif "default" in schema and not isinstance(schema["default"], (list, dict)):
            params.append(f"{param}: {hint} = {py_literal(schema['default'])}")
        else:
            params.append(f"{param}: {hint} | None = None")
    lines += [
        "        # TODO: do what the device does; this keeps the last value of each argument.",
        "        self.state.update(" + ", ".join(f"{p}={p}" for p in props) + ")",
        "        return {" + ", ".join(f'"{p}": {p}' for p in props) + "}",
    ]
    return "\n".join([_signature(name, params), *lines])


def _state_literal(state: dict[str, Any]) -> str:
    if not state:
        return "{}"
    return (
        "{\n"
        + "".join(f"            {py_literal(k)}: {py_literal(v)},\n" for k, v in state.items())
        + "        }"
    )


def _changed_value(schema: dict[str, Any], current: Any) -> Any:
    """A value of the parameter other than ``current`` where there is one."""
    bare = {k: v for k, v in schema.items() if k != "default"}
    candidates = [example_value(bare, i) for i in range(1, 5)]
    return next((v for v in candidates if v != current), candidates[0])


def derive_simulator(tools: list[dict[str, Any]], display_name: str, class_name: str) -> tuple[str, str]:
    """A simulator keeping the last value of every parameter, and a test of it."""
    state: dict[str, Any] = {}
    for tool in tools:
        for param, schema in tool["parameters"]["properties"].items():
            state.setdefault(param, example_value(schema) if _sayable(schema) else None)
    header = template("derived/simulator.py.tmpl").substitute(
        display_name=display_name, class_name=class_name, initial_state=_state_literal(state)
    )
    source = header + "".join(f"\n{_method(tool)}\n" for tool in tools)
    with_params = [t for t in tools if t["parameters"]["properties"]]
    tool = with_params[0] if with_params else tools[0]
    props = tool["parameters"]["properties"]
    required = tool["parameters"].get("required", [])
    arguments = {
        p: _changed_value(s, state[p]) if _sayable(s) else _fixed_value(tool["name"], p, s)
        for p, s in props.items()
        if _sayable(s) or p in required
    }
    call = {"name": tool["name"], "arguments": arguments}
    if arguments:
        assertion = 'assert {k: runtime.state[k] for k in call["arguments"]} == call["arguments"]'
    else:
        assertion = "assert runtime.execute(call) == runtime.state"
    tests = template("derived/simulator_tests.py.tmpl").substitute(call=py_literal(call), assertion=assertion)
    return source, tests


# -- specs, rendering, writing ------------------------------------------------------------------


def example_spec(name: str, display_name: str, description: str | None) -> PluginSpec:
    """The example device: a small wearable with vibration, timers and a battery."""
    class_name = simulator_class_name(name)
    return PluginSpec(
        name=name,
        display_name=display_name,
        description=description or f"{display_name}: vibration strength, timers and battery.",
        tools=load_json(TEMPLATE / "example/tools.json"),
        templates=load_yaml(TEMPLATE / "example/templates.yaml"),
        eval_set=[record for _, record in iter_jsonl(TEMPLATE / "example/eval.jsonl")],
        simulator=template("example/simulator.py.tmpl").substitute(
            display_name=display_name, class_name=class_name
        ),
        simulator_tests=template("example/simulator_tests.py.tmpl").substitute(),
        derived=False,
    )


def derived_spec(
    name: str, display_name: str, description: str | None, tools: list[dict[str, Any]]
) -> PluginSpec:
    """A device whose templates, eval set and simulator are derived from its tools."""
    templates = derive_templates(tools)
    simulator, simulator_tests = derive_simulator(tools, display_name, simulator_class_name(name))
    return PluginSpec(
        name=name,
        display_name=display_name,
        description=description or f"{display_name}: " + ", ".join(words(t["name"]) for t in tools) + ".",
        tools=tools,
        templates=templates,
        eval_set=derive_eval_set(tools, templates),
        simulator=simulator,
        simulator_tests=simulator_tests,
        derived=True,
    )


def verify(spec: PluginSpec) -> None:
    """Run the conformance checks on the spec as an in-memory plugin; raise on the first failure."""
    namespace: dict[str, Any] = {}
    exec(compile(spec.simulator, f"{spec.module}/simulator.py", "exec"), namespace)
    device = DeviceSpec.from_manifest(
        yaml.safe_load(render_manifest(spec)),
        f"{spec.module}/device.yaml",
        tools=spec.tools,
        templates=spec.templates,
        eval_set=spec.eval_set,
        runtime=namespace[spec.class_name],
    )
    plugin = types.ModuleType(spec.module)
    plugin.register_devices = hookimpl(lambda register: register(device))
    plugins = Plugins()
    plugins.register(plugin, spec.name)
    failed = failures(DeviceRegistry(plugins).get(spec.name))
    if failed:
        raise BijouError(
            f"the generated plugin would fail `bijou devices check` ({failed[0].name}: {failed[0].detail}); "
            "adjust the tools file"
        )


class _Dumper(yaml.SafeDumper):
    """Indented block lists; spoken forms and fixed args in flow style (``[on, enabled]``)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _FlowList(list):
    pass


class _FlowDict(dict):
    pass


_Dumper.add_representer(
    _FlowList, lambda d, data: d.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
)
_Dumper.add_representer(
    _FlowDict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)
)


def _flow_args(entry: Any) -> Any:
    return (
        {**entry, "args": _FlowDict(entry["args"])} if isinstance(entry, dict) and "args" in entry else entry
    )


def render_manifest(spec: PluginSpec) -> str:
    """The package's ``device.yaml``: name, labels and evaluation rules."""
    manifest = {
        "name": spec.name,
        "display_name": spec.display_name,
        "description": spec.description,
        "eval_rules": {"free_text": spec.free_text},
    }
    return template("src/device.yaml.header.tmpl").substitute() + yaml.safe_dump(
        manifest, sort_keys=False, allow_unicode=True, width=100
    )


def render_templates(spec: PluginSpec) -> str:
    """templates.yaml: a header, then each section; spoken forms and fixed args in flow style."""
    data = dict(spec.templates)
    if "values" in data:
        data["values"] = {
            p: {v: _FlowList(forms) for v, forms in vs.items()} for p, vs in data["values"].items()
        }
    data["tools"] = {tool: [_flow_args(e) for e in entries] for tool, entries in data["tools"].items()}
    dumped = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    header = template("src/templates.yaml.header.tmpl").substitute(name=spec.name)
    if spec.derived:
        header += "# TODO: derived from the tool names by `bijou plugin new`: rewrite as people speak.\n"
    return header + re.sub(r"\n(?=[a-z_]+:)", "\n\n", dumped)


def _param_summary(schema: dict[str, Any], required: bool) -> str:
    if "enum" in schema:
        kind = "|".join(map(str, schema["enum"]))
    elif "minimum" in schema or "maximum" in schema:
        kind = f"{schema.get('type')} {schema.get('minimum', '')}..{schema.get('maximum', '')}"
    else:
        kind = str(schema.get("type"))
    if not required:
        kind += f", default {json.dumps(schema['default'])}" if "default" in schema else ", optional"
    return kind


def tools_table(tools: list[dict[str, Any]]) -> str:
    rows = []
    for tool in tools:
        required = tool["parameters"].get("required", [])
        params = "; ".join(
            f"`{p}`: {_param_summary(s, p in required)}" for p, s in tool["parameters"]["properties"].items()
        )
        cells = [f"`{tool['name']}`", params or "(none)", tool["description"]]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def render(spec: PluginSpec) -> dict[str, str]:
    """The package's files: relative path -> text."""
    fields = {
        "name": spec.name,
        "package": spec.package,
        "module": spec.module,
        "display_name": spec.display_name,
        "description": spec.description,
        "class_name": spec.class_name,
    }
    test_file = f"test_{spec.module.removeprefix('bijou_')}.py"
    src = f"src/{spec.module}"
    return {
        "pyproject.toml": template("pyproject.toml.tmpl").substitute(fields),
        "README.md": template("README.md.tmpl").substitute(
            fields,
            tools_table=tools_table(spec.tools),
            templates_note=template("derived/README-note.md.tmpl").substitute() if spec.derived else "",
            eval_count=len(spec.eval_set),
            test_file=test_file,
        ),
        f"{src}/__init__.py": template("src/__init__.py.tmpl").substitute(fields),
        f"{src}/device.yaml": render_manifest(spec),
        f"{src}/tools.json": json.dumps(spec.tools, indent=2, ensure_ascii=False) + "\n",
        f"{src}/templates.yaml": render_templates(spec),
        f"{src}/eval.jsonl": "".join(dumps_record(r) + "\n" for r in spec.eval_set),
        f"{src}/simulator.py": spec.simulator,
        f"tests/{test_file}": template("tests/test_device.py.tmpl").substitute(
            fields, simulator_tests=spec.simulator_tests
        ),
    }


def write_tree(target: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``target`` atomically: into a hidden sibling folder, then renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    staging.mkdir()
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
        if target.exists():
            raise BijouError(f"{target}: already exists")
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def create_plugin(
    name: str,
    output_dir: Path,
    tools_file: Path | None = None,
    display_name: str | None = None,
    description: str | None = None,
) -> Path:
    """Generate ``output_dir/bijou-NAME`` and return its path; nothing is written on any error."""
    check_name(name)
    target = Path(output_dir) / f"bijou-{name}"
    if target.exists():
        raise BijouError(f"{target}: already exists; choose another --output-dir or remove it")
    display = display_name or " ".join(part.capitalize() for part in name.split("-"))
    if re.search(r'["\\\n]', display):
        raise BijouError(
            f"--display-name {display!r}: double quotes, backslashes and line breaks are not allowed"
        )
    if tools_file is None:
        spec = example_spec(name, display, description)
    else:
        spec = derived_spec(name, display, description, load_tools(tools_file))
    verify(spec)
    write_tree(target, render(spec))
    return target
