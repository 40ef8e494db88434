"""The evaluate stage: the fine-tuned model beside BM25 and the untuned pretrained model."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from ranker.files import atomic_path, write_json
from ranker.metrics import classification_metrics, ranking_metrics
from ranker.serve.contract import LABELS

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\w+")
MAX_CURVE_POINTS = 500


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def bm25_scores(frame: pd.DataFrame) -> np.ndarray:
    """BM25 (Okapi) of each title for its query, with IDF over that query's candidates."""
    from rank_bm25 import BM25Okapi

    scores = np.zeros(len(frame))
    for query, idx in frame.groupby("query", sort=False).indices.items():
        bm25 = BM25Okapi([_tokens(t) for t in frame["title"].iloc[idx]])
        scores[idx] = bm25.get_scores(_tokens(query))
    return scores


def score_report(frame: pd.DataFrame, scores: np.ndarray, k: int) -> dict[str, Any]:
    labels = frame["label"].to_numpy()
    report = classification_metrics(labels, scores)
    report.update(ranking_metrics(frame["query"].tolist(), labels, scores, k))
    return report


def _thin(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) <= MAX_CURVE_POINTS:
        return df
    idx = np.unique(np.linspace(0, len(df) - 1, MAX_CURVE_POINTS).round().astype(int))
    return df.iloc[idx]


def write_plots(frame: pd.DataFrame, scores: np.ndarray, plots_dir: Path) -> None:
    """ROC, precision-recall and confusion data as CSV: the one source `dvc plots show`
    renders (dvc.yaml's top-level plots). Training curves are dvclive's, written by train."""
    labels = frame["label"].to_numpy()
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    names = np.array([LABELS[0], LABELS[1]])
    with atomic_path(plots_dir, is_dir=True) as tmp:
        _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr})).to_csv(tmp / "roc.csv", index=False)
        _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]})).to_csv(
            tmp / "precision_recall.csv", index=False
        )
        pd.DataFrame(
            {"actual": names[labels], "predicted": names[(scores > 0).astype(int)]}
        ).to_csv(tmp / "confusion.csv", index=False)


def run_evaluate(
    *,
    frame: pd.DataFrame,
    model_scores: np.ndarray,
    pretrained_scores: np.ndarray,
    k: int,
    metrics_path: Path,
    plots_dir: Path,
) -> dict[str, Any]:
    metrics = {
        "model": score_report(frame, model_scores, k),
        "bm25": score_report(frame, bm25_scores(frame), k),
        "pretrained": score_report(frame, pretrained_scores, k),
    }
    write_plots(frame, model_scores, plots_dir)
    write_json(metrics_path, metrics)
    key = f"ndcg@{k}"
    log.info(
        "validation %s: model %.4f, bm25 %.4f, pretrained %.4f",
        key,
        metrics["model"][key],
        metrics["bm25"][key],
        metrics["pretrained"][key],
    )
    return metrics
