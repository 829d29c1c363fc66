"""The package's layering, read from its imports: no module imports from a higher layer, the
packages side by side on one floor do not import each other, and module-level imports form no loop."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import bijou_core

PACKAGE = Path(bijou_core.__file__).parent

# Lowest first; a module belongs to the layer of its longest listed prefix.
LAYERS = [
    (  # the plugin API and the ground floor
        "bijou_core",
        "bijou_core.bounds",
        "bijou_core.calls",
        "bijou_core.chat_template",
        "bijou_core.errors",
        "bijou_core.eval_results",
        "bijou_core.files",
        "bijou_core.hookspecs",
        "bijou_core.hookspecs_v1",
        "bijou_core.manifest",
        "bijou_core.microphone",
        "bijou_core.model_cache",
        "bijou_core.noise",
        "bijou_core.numbers",
        "bijou_core.plugin_api",
        "bijou_core.prompt",
        "bijou_core.rules",
        "bijou_core.schema",
        "bijou_core.simulator",
    ),
    (  # data and devices
        "bijou_core.conformance",
        "bijou_core.data",
        "bijou_core.default_plugins",
        "bijou_core.devices",
        "bijou_core.models",
        "bijou_core.plugins",
        "bijou_core.scaffold",
        "bijou_core.speech",
        "bijou_core.testing",
    ),
    ("bijou_core.runtime",),
    ("bijou_core.train", "bijou_core.evaluate", "bijou_core.export"),
    ("bijou_core.serve", "bijou_core.bench"),
    ("bijou_core.cli",),
]
SIDE_BY_SIDE = {
    "bijou_core.train",
    "bijou_core.evaluate",
    "bijou_core.export",
    "bijou_core.serve",
    "bijou_core.bench",
}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _room(module: str) -> str:
    """The longest prefix of ``module`` listed in LAYERS."""
    rooms = [p for layer in LAYERS for p in layer if module == p or module.startswith(p + ".")]
    assert rooms, f"{module} is in no layer: add it to LAYERS"
    return max(rooms, key=len)


def _layer(module: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if _room(module) in layer)


def _imports(module: str, top_level_only: bool = False) -> set[str]:
    """The bijou_core modules ``module`` imports (anywhere in it, or only at module level)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:  # `from . import cli` imports a module, `from .x import y` a name
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {name for name in found if name in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        _room(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_layer(module):
    upward = {target for target in _imports(module) if (_layer(target) > _layer(module))}
    assert not upward, f"{module} (layer {_layer(module)}) imports from higher layers: {sorted(upward)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_packages_side_by_side_stay_apart(module):
    """train, evaluate and export (and serve and bench) share nothing but what lies below them."""
    room = _room(module)
    across = {
        target
        for target in _imports(module)
        if {room, _room(target)} <= SIDE_BY_SIDE
        and room != _room(target)
        and _layer(target) == _layer(module)
    }
    assert not across, f"{module} imports from a package beside it: {sorted(across)}"


def test_no_import_loop():
    graph = {module: _imports(module, top_level_only=True) - {module} for module in MODULES}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as error:
        pytest.fail(f"import loop: {' -> '.join(error.args[1])}")
