"""What the export stage runs for Vespa: gate the chosen ONNX file on Vespa-built inputs,
then write the application package (ranker/vespa/package.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ranker.config import VespaParams
from ranker.onnx.export import StagedExport
from ranker.serve.contract import MANIFEST, MODELS, TOKENIZER
from ranker.vespa.gate import vespa_gate
from ranker.vespa.package import example_pairs, write_package, write_skipped

log = logging.getLogger(__name__)


def run_vespa(
    staged: StagedExport,
    *,
    frame: pd.DataFrame,
    params: VespaParams,
    bm25: tuple[float, float],
    length: int,
    k: int,
    out_dir: Path,
    fields: tuple[str, ...] = ("title",),
) -> dict[str, Any]:
    """Gate and package what `staged` is about to publish (its files, its open ONNX
    sessions and their scores on `frame`, the validation pairs); returns the gate's report.
    Where Vespa cannot lay out this model's input (`staged.vespa`, from
    `compat.vespa_blocker`) or `vespa.enabled` is off, `out_dir` says why and the ONNX is
    published. `bm25`: the first phase's (k1, b), the retrieve stage's; `fields`: the
    document's, data.text_fields."""
    possible = staged.vespa
    if not params.enabled or not possible["possible"]:
        reason = (
            "vespa.enabled is false"
            if not params.enabled
            else f"Vespa's customTokenInputIds cannot build this model's input: {possible['reason']}"
        )
        write_skipped(out_dir, reason)
        return {"built": False, "reason": reason}
    requested, served = params.model, params.model
    if served not in staged.sessions:
        # Only int8 can be missing: it failed its gate (metrics/export.json, int8_gate).
        log.warning("vespa.model is int8, which failed its gate: the package serves fp32")
        served = "fp32"
        params = dataclasses.replace(params, model=served)
    manifest = json.loads((staged.dir / MANIFEST).read_text(encoding="utf-8"))
    gate = vespa_gate(
        session=staged.sessions[served],
        pipeline_scores=staged.scores[served],
        tokenizer_json=staged.dir / TOKENIZER,
        frame=frame,
        params=params,
        length=length,
        k=k,
        manifest=manifest,
    )
    key = f"ndcg@{k}"
    metrics = staged.metrics
    quality = {f"validation {key}": metrics[served][key]}
    if "test" in metrics:
        quality[f"test {key}"] = metrics["test"][served][key]
    write_package(
        out_dir,
        onnx_dir=staged.dir,
        params=params,
        bm25=bm25,
        length=length,
        quality=quality,
        gate=gate,
        model_name=MODELS[served],
        k=k,
        manifest=manifest,
        example=example_pairs(frame),
        fields=fields,
    )
    return {"built": True, **gate, "requested": requested}
