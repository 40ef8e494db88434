"""What the export stage runs for Vespa: gate the chosen ONNX file on Vespa-built inputs,
then write the application package (ranker/vespa/package.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ranker.config import VespaParams
from ranker.serve.contract import MANIFEST, MODELS, TOKENIZER
from ranker.vespa.gate import vespa_gate
from ranker.vespa.package import write_package, write_skipped


def run_vespa(
    *,
    onnx_dir: Path,
    export_metrics: dict[str, Any],
    sessions: dict[str, Any],
    scores: dict[str, np.ndarray],
    frame: pd.DataFrame,
    params: VespaParams,
    bm25: tuple[float, float],
    length: int,
    k: int,
    out_dir: Path,
    possible: dict[str, Any],
) -> dict[str, Any]:
    """`onnx_dir` holds the files export is about to publish, `sessions` and `scores` the
    open ONNX sessions and their validation scores by variant; returns the gate's report.
    `possible`: whether Vespa can lay out this model's input (`compat.vespa_blocker`); where
    it cannot, or `vespa.enabled` is off, `out_dir` says why and the ONNX is published.
    `bm25`: the first phase's (k1, b), the retrieve stage's."""
    if not params.enabled or not possible["possible"]:
        reason = (
            "vespa.enabled is false"
            if not params.enabled
            else f"Vespa's customTokenInputIds cannot build this model's input: {possible['reason']}"
        )
        write_skipped(out_dir, reason)
        return {"built": False, "reason": reason}
    manifest = json.loads((onnx_dir / MANIFEST).read_text(encoding="utf-8"))
    name = MODELS[params.model]
    gate = vespa_gate(
        session=sessions[params.model],
        pipeline_scores=scores[params.model],
        tokenizer_json=onnx_dir / TOKENIZER,
        frame=frame,
        params=params,
        length=length,
        k=k,
        manifest=manifest,
    )
    key = f"ndcg@{k}"
    quality = {f"validation {key}": export_metrics[params.model][key]}
    if "test" in export_metrics:
        quality[f"test {key}"] = export_metrics["test"][params.model][key]
    write_package(
        out_dir,
        onnx_dir=onnx_dir,
        params=params,
        bm25=bm25,
        length=length,
        quality=quality,
        gate=gate,
        model_name=name,
        k=k,
        manifest=manifest,
    )
    return {"built": True, **gate}
