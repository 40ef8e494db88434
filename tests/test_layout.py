"""The house's layering, as docs/code-layout.md draws it: the product (`ranker/`, `stages/`)
apart from the lab (`bench/`), the tools (`tools/`) apart from both, layers inside `ranker/`
that import only downward, and no import circle anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_dvc_deps import imported_modules, module_file

PRODUCT = ("ranker", "stages")
LAB = ("bench",)
TOOLS = ("tools",)
HOUSE = (*PRODUCT, *LAB, *TOOLS)
# Tests of the lab itself; every other test is a test of the product or of a tool.
LAB_TESTS = ("tests/test_bench.py",)


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def house_imports(path: Path) -> set[str]:
    return imported_modules(path, (*HOUSE, "tests"))


def house_files(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for path in house_files(*HOUSE):
        name = module_name(path)
        graph[name] = {module_name(module_file(m)) for m in house_imports(path)} - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_anywhere() -> None:
    """A circle (a CLI importing its batch module that imports the CLI, a tool re-entering
    the bench through its main) hides which module is the entry point."""
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("path", house_files(*PRODUCT), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_product_never_imports_the_lab_or_the_tools(path: Path) -> None:
    bad = {m for m in house_imports(path) if m.split(".")[0] not in PRODUCT}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", house_files(*TOOLS), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_tools_import_nothing_of_the_house(path: Path) -> None:
    bad = {m for m in house_imports(path) if m.split(".")[0] not in TOOLS}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_tests_of_the_product_never_import_the_lab() -> None:
    bad = {
        str(path.relative_to(ROOT)): sorted(m for m in house_imports(path) if m.startswith("bench"))
        for path in house_files("tests")
        if str(path.relative_to(ROOT)) not in LAB_TESTS
    }
    assert not {k: v for k, v in bad.items() if v}


# Subpackage -> the subpackages (besides itself and the top level) it may import.
ALLOWED = {
    "top": set(),
    "serve": set(),
    "data": set(),
    "evaluation": {"serve.contract"},
    "retrieval": {"data", "evaluation"},
    "model": {"serve.contract", "evaluation"},
    "onnx": {"model", "serve", "evaluation"},
    "vespa": {"onnx", "serve", "evaluation"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ALLOWED else "top"


def modules() -> list[str]:
    found = []
    for path in sorted((ROOT / "ranker").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        found.append(".".join(rel.parts).removesuffix(".__init__"))
    return found


@pytest.mark.parametrize("module", modules())
def test_imports_follow_the_layers(module: str) -> None:
    path = ROOT.joinpath(*module.split("."))
    path = path.with_suffix(".py") if path.with_suffix(".py").is_file() else path / "__init__.py"
    own = layer(module)
    for imported in imported_modules(path):
        if not imported.startswith("ranker.") or imported == "ranker":
            continue
        other = layer(imported)
        if other in ("top", own):
            if own == "top":
                assert other == "top", f"{module} (top level) imports {imported}"
            continue
        allowed = ALLOWED[own]
        sub = ".".join(imported.split(".")[1:3])
        assert other in allowed or sub in allowed, f"{module} ({own}) may not import {imported}"


def test_every_module_is_small() -> None:
    """One purpose per file: none over 300 lines (data files and tests aside)."""
    big = {
        str(p.relative_to(ROOT)): n
        for p in house_files(*HOUSE)
        if (n := len(p.read_text().splitlines())) > 300
    }
    assert not big, big


def test_the_encode_stage_needs_no_torch() -> None:
    """Tokenizing is not modelling: encode's code (ranker/model/tokenizer.py, not modeling.py)
    imports neither torch nor the modules that patch the model, so it never reruns for them."""
    from tests.test_dvc_deps import closure

    files = closure("stages.encode")
    assert Path("ranker/model/tokenizer.py") in files
    assert Path("ranker/model/modeling.py") not in files
    for rel in files:
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] == "torch" for n in names), f"{rel} imports torch"
