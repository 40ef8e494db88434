"""What made a model: base model, data and its checksum, params, libraries, code checksums.

The train stage writes it beside the weights (`provenance.json` and a `README.md` model
card) and the export stage copies it into `ranker.json`, so a model pulled from a remote says
what made it. Nothing here depends on the clock or the machine's load: two identical runs
write identical bytes.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ranker.config import Params
from ranker.files import file_digest

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
# Where the code that makes a model lives, and the lock of the libraries it runs on.
ROOT = Path(__file__).resolve().parent.parent
CODE_PACKAGES = ("ranker", "stages")
LOCKS = ("requirements.lock",)


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def code_hashes(root: Path = ROOT) -> dict[str, str]:
    """The md5 of every project module this process has imported, and of the lock that pins
    its libraries: the hashes `dvc.lock` records for the same files. Unlike a git commit id
    they stay the same when the run is committed, and change only with the code."""
    files = {root / lock for lock in LOCKS if (root / lock).is_file()}
    for module in list(sys.modules.values()):
        path = Path(getattr(module, "__file__", None) or "")
        if path.suffix == ".py" and path.resolve().is_relative_to(root):
            rel = path.resolve().relative_to(root)
            if rel.parts[0] in CODE_PACKAGES:
                files.add(root / rel)
    return {str(f.relative_to(root)): file_digest(f, "md5") for f in sorted(files)}


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
        "code": code_hashes(),
    }


def read_provenance(model_dir: Path) -> dict[str, Any]:
    path = model_dir / PROVENANCE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _card(prov: dict[str, Any]) -> str:
    data, code, val = prov.get("data", {}), prov.get("code", {}), prov.get("validation", {})
    params = prov.get("params", {})
    libs = ", ".join(f"{k} {v}" for k, v in prov.get("libraries", {}).items() if v)
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
        f"| code | {len(code)} files, each file's md5 in provenance.json (as dvc.lock has them) |",
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
