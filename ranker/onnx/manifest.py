"""The exported folder's manifest: what a consumer checks before it trusts any file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ranker.config import EncodeParams, ExportParams
from ranker.files import sha256_file
from ranker.serve import contract
from ranker.serve.contract import MANIFEST, MANIFEST_SHA256


def write_manifest(
    out_dir: Path,
    *,
    encode: EncodeParams,
    params: ExportParams,
    files: list[str],
    model: dict[str, Any],
    logits: int,
    provenance: dict[str, Any],
    text_fields: tuple[str, ...] = ("title",),
) -> None:
    """`ranker.json`: the contract as this model has it (its inputs, pair template and
    special ids from `ranker.model.compat.check_model`, its head), the model's provenance,
    and the SHA-256 of every file; and `ranker.json.sha256`, the manifest's own, so a
    consumer trusts none of it unchecked."""
    manifest = {
        **contract.describe(model["inputs"], logits),
        "model_type": model["model_type"],
        "template": model["template"],
        "max_length": encode.max_length,
        # What the second segment of a pair is: these document fields joined by a space.
        "document_fields": list(text_fields),
        "max_positions": model["max_positions"],
        "opset": params.opset,
        "files": files,
        "sha256": {
            p.name: sha256_file(p)
            for p in sorted(out_dir.iterdir())
            if p.name not in (MANIFEST, MANIFEST_SHA256)
        },
        "provenance": {**provenance, "export": dataclasses.asdict(params)},
    }
    (out_dir / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    (out_dir / MANIFEST_SHA256).write_text(
        f"{sha256_file(out_dir / MANIFEST)}  {MANIFEST}\n", encoding="utf-8"
    )
