"""What the export stage runs for Vespa: gate the chosen ONNX file on Vespa-built inputs,
then write the application package (ranker/vespa/package.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ranker.config import VespaParams
from ranker.serve.contract import MODELS, TOKENIZER
from ranker.vespa.gate import vespa_gate
from ranker.vespa.package import write_package


def run_vespa(
    *,
    onnx_dir: Path,
    export_metrics: dict[str, Any],
    sessions: dict[str, Any],
    scores: dict[str, np.ndarray],
    frame: pd.DataFrame,
    params: VespaParams,
    length: int,
    k: int,
    out_dir: Path,
) -> dict[str, Any]:
    """`onnx_dir` holds the files export is about to publish, `sessions` and `scores` the
    open ONNX sessions and their validation scores by variant; returns the gate's report."""
    name = MODELS[params.model]
    gate = vespa_gate(
        session=sessions[params.model],
        pipeline_scores=scores[params.model],
        tokenizer_json=onnx_dir / TOKENIZER,
        frame=frame,
        params=params,
        length=length,
        k=k,
    )
    key = f"ndcg@{k}"
    quality = {f"validation {key}": export_metrics[params.model][key]}
    if "test" in export_metrics:
        quality[f"test {key}"] = export_metrics["test"][params.model][key]
    write_package(
        out_dir,
        onnx_dir=onnx_dir,
        params=params,
        length=length,
        quality=quality,
        gate=gate,
        model_name=name,
        k=k,
    )
    return gate
