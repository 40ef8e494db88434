"""int8 in the export stage: quantize (`quantize.py`), check the file like fp32, and accept
or reject it on what a server computes, deciding with statistics rather than on a point
estimate from a few validation queries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ranker.config import ExportParams
from ranker.errors import ExportError
from ranker.evaluation.ranking import classification_metrics, frame_per_query
from ranker.evaluation.stats import bootstrap_ci, paired_comparison
from ranker.onnx.gates import (
    batch_gate,
    check_contract,
    frame_logits,
    ort_session,
    ranking_scores,
    variant_quality,
)
from ranker.onnx.quantize import calibration_batches, quantize_int8
from ranker.serve.contract import INT8_NAME
from ranker.serve.runtime import int8_product_saturates

log = logging.getLogger(__name__)


@dataclass
class Int8:
    """An accepted int8 file: its open session and its batched validation scores."""

    session: Any
    scores: np.ndarray


def rank_agreement(frame: pd.DataFrame, ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Kendall tau of `other` against `ref` per query with two or more candidates whose
    reference scores are not all equal (a ranking to agree with)."""
    taus = []
    for idx in frame.groupby("query", sort=False).indices.values():
        if len(idx) > 1 and np.ptp(ref[idx]) > 0:
            tau = stats.kendalltau(ref[idx], other[idx]).statistic
            taus.append(0.0 if np.isnan(tau) else float(tau))
    return np.asarray(taus, dtype=np.float64)


def int8_gate(
    frame: pd.DataFrame,
    fp32: np.ndarray,
    int8: np.ndarray,
    *,
    params: ExportParams,
    k: int,
    seed: int,
) -> dict[str, Any]:
    """Accept or reject int8 on its served scores against fp32's (`batch_gate`'s padded
    scores), deciding on per-query paired values with bootstrap 95% intervals: rejected
    when the nDCG@k drop is above `max_ndcg_drop` or the per-query Kendall tau below
    `min_rank_agreement`, each with 95% confidence. A noisy drop on few queries has a wide
    interval and does not reject; a broken int8 ranks every query badly and does, on any
    number of queries."""
    key = f"ndcg@{k}"
    ndcg = {
        name: frame_per_query(frame, scores, k)[key].to_numpy()
        for name, scores in (("fp32", fp32), ("int8", int8))
    }
    drop = paired_comparison(ndcg["fp32"], ndcg["int8"], seed=seed)
    taus = rank_agreement(frame, fp32, int8)
    tau_lo, tau_hi = bootstrap_ci(taus, seed=seed)
    labels = frame["label"].tolist()
    auc = {
        name: classification_metrics(labels, s)["roc_auc"]
        for name, s in (("fp32", fp32), ("int8", int8))
    }
    why = []
    if drop["queries"] and drop["delta_ci95"]["low"] > params.max_ndcg_drop:
        why.append(
            f"nDCG@{k} drop {drop['mean_delta']:.4f} (95% CI {drop['delta_ci95']['low']:.4f} to "
            f"{drop['delta_ci95']['high']:.4f}, {drop['queries']} queries) above "
            f"export.max_ndcg_drop {params.max_ndcg_drop}"
        )
    if taus.size and tau_hi < params.min_rank_agreement:
        why.append(
            f"rank agreement with fp32 {taus.mean():.3f} (Kendall tau, 95% CI {tau_lo:.3f} to "
            f"{tau_hi:.3f}, {taus.size} queries) below export.min_rank_agreement "
            f"{params.min_rank_agreement}"
        )
    report = {
        "scored": "each validation pair alone, padded to encode.max_length",
        "queries": drop["queries"],
        key: {name: float(v.mean()) if v.size else None for name, v in ndcg.items()},
        "ndcg_drop": {
            "mean": drop["mean_delta"] if drop["queries"] else None,
            "ci95": drop["delta_ci95"] if drop["queries"] else None,
            "max": params.max_ndcg_drop,
        },
        "rank_agreement": {
            "queries": int(taus.size),
            "mean": float(taus.mean()) if taus.size else None,
            "ci95": {"low": tau_lo, "high": tau_hi} if taus.size else None,
            "min": params.min_rank_agreement,
        },
        "roc_auc_drop": auc["fp32"] - auc["int8"],
        "decision": "rejected" if why else "accepted",
    }
    if why:
        report["why"] = "; ".join(why)
    log.info(
        "int8 gate: %s on %d queries: nDCG@%d drop %s, rank agreement %s",
        report["decision"],
        drop["queries"],
        k,
        f"{drop['mean_delta']:.4f}" if drop["queries"] else "n/a",
        f"{taus.mean():.3f}" if taus.size else "n/a",
    )
    return report


def build_int8(
    fp32: Path,
    *,
    frame: pd.DataFrame,
    calibration_frame: pd.DataFrame,
    fp32_served: np.ndarray,
    pad_id: int,
    inputs: tuple[str, ...],
    logits: int,
    params: ExportParams,
    length: int,
    k: int,
    seed: int,
    threads: int,
    metrics: dict[str, Any],
) -> Int8 | None:
    """model.int8.onnx beside `fp32`, through the contract, the batch gate and `int8_gate`;
    records each in `metrics`. Rejected: the file is removed and None returned (or, with
    `export.require_int8`, the stage fails)."""
    int8 = fp32.with_name(INT8_NAME)
    batches = calibration_batches(
        calibration_frame,
        pad_id,
        pairs=params.calibration_pairs,
        length=length,
        seed=seed,
        method=params.calibration,
    )
    metrics["int8_quantization"] = quantize_int8(
        fp32,
        int8,
        batches,
        method=params.calibration,
        per_channel=params.per_channel,
        reduce_range=params.reduce_range,
    )
    check_contract(int8, inputs, logits)
    session = ort_session(int8, threads)
    scores = ranking_scores(frame_logits(session, frame, pad_id))
    metrics["batch"]["int8"], served = batch_gate(
        session, frame, pad_id, batched=scores, name=INT8_NAME, length=length,
        atol=params.batch_atol,
    )  # fmt: skip
    gate = metrics["int8_gate"] = int8_gate(
        frame, fp32_served, served, params=params, k=k, seed=seed
    )
    if gate["decision"] == "rejected":
        if params.require_int8:
            raise ExportError(f"int8 rejected: {gate['why']} (export.require_int8 is true)")
        del session
        int8.unlink()
        log.warning(
            "int8 rejected, fp32 published without it: %s; export.quantize: false skips "
            "int8, export.max_ndcg_drop and export.min_rank_agreement decide, "
            "export.require_int8: true makes this fatal",
            gate["why"],
        )
        return None
    metrics["int8"] = {
        **variant_quality(frame, scores, k),
        "size_mb": round(int8.stat().st_size / 2**20, 2),
    }
    if not params.reduce_range and int8_product_saturates():
        # Not in the outputs: they must not depend on the machine that made them.
        log.warning(
            "int8 gated on a CPU whose int8 product saturates (no VNNI): CPUs with VNNI "
            "score model.int8.onnx differently; export.reduce_range: true makes every CPU agree"
        )
    return Int8(session=session, scores=scores)
