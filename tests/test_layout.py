"""The package's layering, as README "How the code is organised" states it."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tests.test_dvc_deps import imported_modules

# Subpackage -> the subpackages (besides itself and the top level) it may import.
ALLOWED = {
    "top": set(),
    "serve": set(),
    "data": set(),
    "evaluation": set(),
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
        for p in [*ROOT.glob("ranker/**/*.py"), *ROOT.glob("stages/*.py"), *ROOT.glob("bench/*.py")]
        if (n := len(p.read_text().splitlines())) > 300
    }
    assert not big, big
