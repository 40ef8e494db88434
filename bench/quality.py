"""int8 against fp32 on the pipeline's own trained model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.common import ROOT
from ranker.onnx.gates import evaluate_variant, ort_session, score_frame


def int8_quality() -> dict[str, Any]:
    """int8 vs fp32 of the pipeline's trained model (`make run`): nDCG@10 and ROC-AUC on the
    test split (queries neither training nor selection saw), and on all 50 sample queries, a
    steadier check of int8 *fidelity* to fp32 (not of quality: it includes training
    queries; 10 test queries move nDCG@10 by points when a few pairs swap)."""
    onnx_dir, encoded = ROOT / "models" / "onnx", ROOT / "data" / "encoded"
    models = {"fp32": onnx_dir / "model.onnx", "int8": onnx_dir / "model.int8.onnx"}
    splits = [encoded / f"{name}.parquet" for name in ("train", "valid", "test")]
    if not all(p.is_file() for p in [*models.values(), *splits]):
        return {"skipped": "no trained model here: run `make run` first"}
    test = pd.read_parquet(splits[2])
    every = pd.concat([pd.read_parquet(p) for p in splits], ignore_index=True)
    sessions = {variant: ort_session(path) for variant, path in models.items()}
    out: dict[str, Any] = {}
    for split, frame in (("test", test), ("all_queries", every)):
        fp32, int8 = (evaluate_variant(sessions[v], frame, 0, 10) for v in ("fp32", "int8"))
        out[split] = {
            "queries": int(frame["query"].nunique()),
            "fp32": {k: round(v, 4) for k, v in fp32.items()},
            "int8": {k: round(v, 4) for k, v in int8.items()},
            "ndcg@10_relative_change": round(int8["ndcg@10"] / fp32["ndcg@10"] - 1, 4),
        }
    fp32_scores, int8_scores = (pd.Series(score_frame(sessions[v], test, 0)) for v in sessions)
    spearman = fp32_scores.corr(int8_scores, method="spearman")
    out["test"]["score_spearman"] = round(float(spearman), 4)
    return out
