"""What made a model: base model, data and its checksum, params, libraries, git revision.

The train stage writes it beside the weights (`provenance.json` and a `README.md` model
card) and the export stage copies it into `ranker.json`, so a model pulled from a remote says
what made it. Nothing here depends on the clock or the machine's load: two identical runs
write identical bytes.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ranker.config import Params

PROVENANCE = "provenance.json"
CARD = "README.md"
# The libraries whose versions decide the numbers a stage computes (all pinned in
# requirements.lock, which is a dependency of every stage).
LIBRARIES = (
    "torch",
    "transformers",
    "tokenizers",
    "accelerate",
    "onnx",
    "onnxruntime",
    "numpy",
    "pandas",
    "scikit-learn",
)
# Code whose state the revision stands for; a change here not yet committed is flagged.
CODE_PATHS = ("ranker", "stages", "dvc.yaml", "requirements.lock", "pyproject.toml")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(cwd: str | Path = ".") -> dict[str, Any]:
    """HEAD's commit and whether the project's code differs from it (None outside git)."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)

    try:
        head = git("rev-parse", "HEAD")
    except OSError:
        return {"commit": None, "code_modified": None}
    if head.returncode != 0:
        return {"commit": None, "code_modified": None}
    status = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return {"commit": head.stdout.strip(), "code_modified": bool(status.stdout.strip())}


def build_provenance(params: Params, data_meta: dict[str, Any]) -> dict[str, Any]:
    """Everything known before training; the train stage adds validation metrics."""
    data = {
        key: data_meta.get(key)
        for key in ("source", "sha256", "synthetic", "rows", "queries", "graded_threshold")
    }
    # Exactly the params the train stage depends on (dvc.yaml): the data section is
    # represented by what it produced (source and SHA-256), not by download settings.
    sections = ("split", "model", "encode", "train", "run")
    recorded = {name: dataclasses.asdict(getattr(params, name)) for name in sections}
    recorded["evaluate"] = {"k": params.evaluate.k}
    return {
        "base_model": params.model.name,
        "data": data,
        "params": recorded,
        "libraries": library_versions(),
        "git": git_revision(),
    }


def read_provenance(model_dir: Path) -> dict[str, Any]:
    path = model_dir / PROVENANCE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _card(prov: dict[str, Any]) -> str:
    data, git, val = prov.get("data", {}), prov.get("git", {}), prov.get("validation", {})
    params = prov.get("params", {})
    libs = ", ".join(f"{k} {v}" for k, v in prov.get("libraries", {}).items() if v)
    modified = " (with uncommitted code changes)" if git.get("code_modified") else ""
    metrics = ", ".join(f"{k} {v}" for k, v in val.items())
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        f"base_model: {prov.get('base_model')}",
        "---",
        "",
        "# Cross-encoder for search relevance",
        "",
        "A 2-label sequence classifier over (query, title) pairs; the relevance score is",
        "`logits[1] - logits[0]`. Made by the `train` stage of the ranker DVC pipeline.",
        "",
        "| field | value |",
        "| --- | --- |",
        f"| base model | `{prov.get('base_model')}` |",
        f"| data source | `{data.get('source')}`{' (synthetic)' if data.get('synthetic') else ''} |",
        f"| data SHA-256 | `{data.get('sha256')}` |",
        f"| data | {data.get('rows')} pairs, {data.get('queries')} queries |",
        f"| validation | {metrics} |",
        f"| git revision | `{git.get('commit')}`{modified} |",
        f"| libraries | {libs} |",
        "",
        "## Params",
        "",
        "```json",
        json.dumps(params, indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_model_card(model_dir: Path, prov: dict[str, Any]) -> None:
    """`provenance.json` (for machines) and `README.md` (for people) in `model_dir`."""
    (model_dir / PROVENANCE).write_text(
        json.dumps(prov, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (model_dir / CARD).write_text(_card(prov), encoding="utf-8")
