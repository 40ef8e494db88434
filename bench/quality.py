"""int8 against fp32 on the pipeline's trained model, and int8 across instruction sets (ISAs)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import ROOT
from ranker.config import load_params
from ranker.model.encode import load_encoded
from ranker.onnx.gates import frame_logits, ort_session, ranking_scores, variant_quality
from ranker.onnx.quantize import calibration_batches, quantize_int8

ENCODED = ROOT / "data" / "encoded"
SPLITS = ("train", "valid", "test")


def load_test_and_all_queries() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The encoded test split, and every split together (all 50 sample queries)."""
    frames = [pd.read_parquet(ENCODED / f"{name}.parquet") for name in SPLITS]
    return frames[-1], pd.concat(frames, ignore_index=True)


def int8_quality() -> dict[str, Any]:
    """int8 vs fp32 of the pipeline's trained model (`make run`): nDCG@10 and ROC-AUC on the
    test split (queries neither training nor selection saw), and on all 50 sample queries, a
    steadier check of int8 *fidelity* to fp32 (not of quality: it includes training
    queries; 10 test queries move nDCG@10 by points when a few pairs swap)."""
    onnx_dir = ROOT / "models" / "onnx"
    models = {"fp32": onnx_dir / "model.onnx", "int8": onnx_dir / "model.int8.onnx"}
    splits = [ENCODED / f"{name}.parquet" for name in SPLITS]
    if not all(p.is_file() for p in [*models.values(), *splits]):
        return {"skipped": "no trained model here: run `make run` first"}
    test, every = load_test_and_all_queries()
    sessions = {variant: ort_session(path) for variant, path in models.items()}
    out: dict[str, Any] = {}
    for split, frame in (("test", test), ("all_queries", every)):
        fp32, int8 = (
            variant_quality(frame, ranking_scores(frame_logits(sessions[v], frame, 0)), 10)
            for v in ("fp32", "int8")
        )
        out[split] = {
            "queries": int(frame["query"].nunique()),
            "fp32": {k: round(v, 4) for k, v in fp32.items()},
            "int8": {k: round(v, 4) for k, v in int8.items()},
            "ndcg@10_relative_change": round(int8["ndcg@10"] / fp32["ndcg@10"] - 1, 4),
        }
    fp32_scores, int8_scores = (
        pd.Series(ranking_scores(frame_logits(sessions[v], test, 0))) for v in sessions
    )
    spearman = fp32_scores.corr(int8_scores, method="spearman")
    out["test"]["score_spearman"] = round(float(spearman), 4)
    return out


# The int8 files every instruction-set path scores (set by the parent, read by children).
INT8_DIR_ENV = "BENCH_INT8_DIR"
INT8_VARIANTS = ("exported", "reduce_range")


def prepare_int8_files() -> Path | None:
    """The pipeline's int8 model as exported, and its fp32 model quantized with 7-bit
    weights (`export.reduce_range`), in one folder that every path, child processes
    included, scores: the same bytes on every CPU. None before `make run`."""
    onnx_dir = ROOT / "models" / "onnx"
    if not (onnx_dir / "model.int8.onnx").is_file():
        return None
    all_params = load_params(ROOT / "params.yaml")
    params = all_params.export
    out = Path(tempfile.mkdtemp(prefix="bench-int8-"))
    shutil.copyfile(onnx_dir / "model.int8.onnx", out / "exported.onnx")
    calibration = calibration_batches(
        load_encoded(ROOT / "data" / "encoded" / "train.parquet"),
        json.loads((onnx_dir / "ranker.json").read_text())["template"]["pad_id"],
        pairs=params.calibration_pairs,
        length=all_params.encode.max_length,
        seed=all_params.run.seed,
        method=params.calibration,
    )
    quantize_int8(
        onnx_dir / "model.onnx",
        out / "reduce_range.onnx",
        calibration,
        method=params.calibration,
        per_channel=params.per_channel,
        reduce_range=True,
    )
    os.environ[INT8_DIR_ENV] = str(out)
    return out


def int8_isa_scores() -> dict[str, Any]:
    """This process's scores of the prepared int8 files on all 50 sample queries, and the
    quality they give on the test split and on all queries."""
    folder = os.environ.get(INT8_DIR_ENV)
    if not folder:
        return {}
    test, every = load_test_and_all_queries()
    out: dict[str, Any] = {}
    for variant in INT8_VARIANTS:
        session = ort_session(Path(folder) / f"{variant}.onnx")
        test_scores = ranking_scores(frame_logits(session, test, 0))
        out[variant] = {
            "scores": [float(s) for s in ranking_scores(frame_logits(session, every, 0))],
            "ndcg@10_test": round(variant_quality(test, test_scores, 10)["ndcg@10"], 4),
        }
    return out


def attach_int8_agreement(isas: dict[str, Any]) -> None:
    """Each ISA's int8 scores against the native ISA's, pair by pair (then the raw scores
    are dropped): where int8 kernels differ (AVX2 saturates, VNNI does not), so do scores."""
    native = isas["native"].get("int8_scores", {})
    for p in isas.values():
        rows = p.pop("int8_scores", None)  # popped here too: the native dict is held above
        if not (rows and native):
            continue
        p["int8_agreement"] = {}
        for variant, row in rows.items():
            gap = np.abs(np.array(row["scores"]) - np.array(native[variant]["scores"]))
            p["int8_agreement"][variant] = {
                "pairs": len(gap),
                "max_abs_diff": round(float(gap.max()), 4),
                "median_abs_diff": round(float(np.median(gap)), 4),
                "p99_abs_diff": round(float(np.quantile(gap, 0.99)), 4),
                "pairs_over_0.1": int((gap > 0.1).sum()),
                "ndcg@10_test": row["ndcg@10_test"],
            }
