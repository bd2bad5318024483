"""The package's import graph: no cycles, and each layer imports only the layers below it.

The graph is read from the source with ``ast`` (every ``import``, also those inside functions, which is how the
lazy imports that hide a cycle are found; ``if TYPE_CHECKING:`` blocks are left out), so nothing is imported.

Layers, bottom to top (a module may import its own layer and the ones below):

    base        seqtune (the package), errors, registry
    config      seqtune.config
    data        seqtune.data, seqtune.models
    components  seqtune.objectives, seqtune.heads, seqtune.loggers, seqtune.explain
    training    seqtune.training
    commands    seqtune.commands (a command never imports another command)
    cli         seqtune.cli, seqtune.__main__
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "seqtune"

LAYERS = {
    "seqtune": 0, "seqtune.errors": 0, "seqtune.registry": 0,
    "seqtune.config": 1,
    "seqtune.data": 2, "seqtune.models": 2,
    "seqtune.objectives": 3, "seqtune.heads": 3, "seqtune.loggers": 3, "seqtune.explain": 3,
    "seqtune.training": 4,
    "seqtune.commands": 5,
    "seqtune.cli": 6, "seqtune.__main__": 6,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "conf" not in p.relative_to(PACKAGE).parts}


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The seqtune modules ``name`` imports anywhere in its source (package imports resolve to the package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for top in ast.walk(tree) if _type_checking_only(top) for n in ast.walk(top)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports_of(name, path, set(mods)) for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layer(module: str) -> tuple[str, int]:
    owner = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return owner, LAYERS[owner]


def test_the_graph_reader_finds_lazy_imports_and_cycles():
    """The reader itself: a function-level import counts, and a two-module loop is a cycle."""
    edges = graph()
    assert "seqtune.training.resume" in edges["seqtune.cli"]  # imported inside a function
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_every_module_has_a_layer():
    assert not [m for m in modules() if not any(m == p or m.startswith(p + ".") for p in LAYERS)]


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_each_layer_imports_only_the_layers_below():
    wrong = []
    for module, targets in graph().items():
        owner, level = layer(module)
        for target in targets:
            target_owner, target_level = layer(target)
            if target_level > level:
                wrong.append(f"{module} -> {target}")
            elif owner == target_owner == "seqtune.commands" and module != "seqtune.commands":
                if target != "seqtune.commands":
                    wrong.append(f"{module} -> {target} (a command imports another command)")
    assert wrong == []


def test_help_and_the_composed_config_answer_without_importing_torch():
    """The CLI, the schemas and the generic rules are light: `seqtune --help`, `seqtune ls`, `seqtune <command>
    --help` and `--cfg job` never import torch (components, and their specs, load when a command runs)."""
    import subprocess
    import sys

    code = ("import sys, io, contextlib\n"
            "from seqtune.cli import main\n"
            "import seqtune.config.rules\n"
            "for args in (['--help'], ['ls'], ['pretrain', '--help'], ['pretrain', 'objective=mlm', '--cfg', 'job'],\n"
            "             ['finetune', 'head=tagger', '--cfg', 'job'], ['generate', '--cfg', 'job']):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n"
            "            main(args)\n"
            "        except SystemExit as exc:\n"
            "            assert exc.code in (0, None), (args, exc.code)\n"
            "    assert 'torch' not in sys.modules, args\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
