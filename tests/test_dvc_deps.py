"""`dvc.yaml` lists exactly the code each stage runs, and the runtime environment.

A module a stage imports but does not list would let `dvc repro` keep a stale output after
that module changes; a listed module it never imports reruns it for nothing.
"""

from __future__ import annotations

import ast
import os
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT

PROJECT_PACKAGES = ("ranker", "stages")
RUNTIME_LOCK = "requirements.lock"
DEV_LOCK = "requirements-dev.lock"


def module_file(name: str) -> Path | None:
    """The file of a project module (`ranker.x` -> ranker/x.py or ranker/x/__init__.py)."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, packages: tuple[str, ...] = PROJECT_PACKAGES) -> set[str]:
    """Every module of `packages` that `path` imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from ranker import x` may name a submodule.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] in packages and module_file(m)}


def closure(entry: str) -> set[Path]:
    """Files executed when `python -m <entry>` runs: its imports, theirs, and package inits."""
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for i in range(1, len(parts)):
            init = ROOT.joinpath(*parts[:i], "__init__.py")
            if init.is_file():
                seen.add(init)
        path = module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        todo.extend(imported_modules(path))
    return {p.relative_to(ROOT) for p in seen}


# The main project's, and cross-validation's (a DVC project of its own in cv/).
PIPELINES = ("dvc.yaml", "cv/dvc.yaml")


def _from_root(project: Path, dep: str | dict) -> str | dict:
    """A dep as a path from the repository root (cv/'s are relative to cv/)."""
    if isinstance(dep, dict) or "${" in dep:
        return dep
    return os.path.normpath(project / dep)


def stages() -> dict[str, dict]:
    """Every stage of both pipelines, deps from the repository root; a `foreach` stage by
    its `do` template."""
    found = {}
    for pipeline in PIPELINES:
        project = Path(pipeline).parent
        for name, stage in yaml.safe_load((ROOT / pipeline).read_text())["stages"].items():
            key = name if pipeline == "dvc.yaml" else f"{pipeline}:{name}"
            stage = dict(stage.get("do", stage))
            stage["deps"] = [_from_root(project, d) for d in stage.get("deps", [])]
            found[key] = stage
    return found


def entry_module(stage: dict) -> str:
    match = re.search(r"python -m (\S+)", stage["cmd"])
    assert match, f"stage command does not run a module: {stage['cmd']}"
    return match.group(1)


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(dep) or Path(dep) in path.parents for dep in deps)


@pytest.mark.parametrize("name", sorted(stages()))
def test_stage_lists_every_module_it_imports(name: str) -> None:
    stage = stages()[name]
    deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
    needed = closure(entry_module(stage))
    missing = sorted(str(p) for p in needed if not covered(p, deps))
    assert not missing, f"stage '{name}' imports but does not list in dvc.yaml: {missing}"
    code = [d for d in deps if d.endswith(".py")]
    unused = sorted(d for d in code if Path(d) not in needed)
    assert not unused, f"stage '{name}' lists code it never imports: {unused}"
    # A folder is listed only where the stage imports every module in it.
    for folder in (d for d in deps if (ROOT / d).is_dir() and d.startswith(PROJECT_PACKAGES)):
        extra = sorted(str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py"))
        extra = [p for p in extra if Path(p) not in needed]
        assert not extra, f"stage '{name}' lists {folder}/ but never imports {extra}"


def test_closure_follows_lazy_imports_and_package_inits() -> None:
    # ranker.serve.rerank is imported by no stage; package __init__ files run on import.
    train = closure("stages.train")
    assert Path("ranker/provenance.py") in train
    assert {Path("ranker/__init__.py"), Path("ranker/model/__init__.py")} <= train
    assert Path("ranker/serve/rerank.py") not in train
    assert Path("ranker/data/sample.py") in closure("stages.download")


def _lock(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    pins = [line.split("#")[0].strip() for line in lines]
    return {canonicalize_name(p.split("==")[0]): p for p in pins if p}


def _runtime_closure() -> set[str]:
    """Distributions the project's runtime dependencies pull in (no extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r).name for r in project["dependencies"]]
    seen: set[str] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.distribution(name).requires or []
        except metadata.PackageNotFoundError:
            continue
        for raw in requires:
            req = Requirement(raw)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_environment_is_a_dependency_and_dev_tools_are_not() -> None:
    runtime, dev = _lock(RUNTIME_LOCK), _lock(DEV_LOCK)
    needed = _runtime_closure()
    assert not set(runtime) & set(dev), "a package pinned in both locks"
    assert not set(dev) & needed, f"runtime packages in {DEV_LOCK}: {sorted(set(dev) & needed)}"
    missing = sorted(needed - set(runtime) - {"setuptools", "pip"})
    assert not missing, f"runtime packages not pinned in {RUNTIME_LOCK}: {missing}"
    assert {"pytest", "ruff"} <= set(dev)
    for name, stage in stages().items():
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage["deps"]]
        assert RUNTIME_LOCK in deps, f"stage '{name}' does not depend on {RUNTIME_LOCK}"
        assert DEV_LOCK not in deps, f"stage '{name}' depends on dev-only {DEV_LOCK}"


def test_download_depends_on_its_source() -> None:
    """The source file or URL itself, so an edited file or changed body is noticed."""
    assert "${data.source}" in stages()["download"]["deps"]


def test_every_output_is_cached() -> None:
    """A failed run can be undone with `dvc checkout`, and the run-cache keeps every stage."""
    for name, stage in stages().items():
        for key in ("outs", "metrics", "plots"):
            for out in stage.get(key, []):
                if isinstance(out, dict):
                    (path, opts), *_ = out.items()
                    assert opts.get("cache", True), f"stage '{name}': {path} has cache: false"
                    assert not opts.get("persist", False), f"stage '{name}': {path} persists"
