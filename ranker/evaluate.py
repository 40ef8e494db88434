"""The evaluate stage: the fine-tuned model beside BM25 and the untuned pretrained model."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from ranker.io import atomic_path, write_json
from ranker.metrics import classification_metrics, ranking_metrics

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


def write_plots(
    frame: pd.DataFrame, scores: np.ndarray, history: pd.DataFrame, plots_dir: Path, k: int
) -> None:
    """CSV data for `dvc plots show`, and PNG copies under `plots_dir/png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = frame["label"].to_numpy()
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    roc = _thin(pd.DataFrame({"fpr": fpr, "tpr": tpr}))
    pr = _thin(pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]}))
    names = np.array(["irrelevant", "relevant"])
    confusion = pd.DataFrame(
        {"actual": names[labels], "predicted": names[(scores > 0).astype(int)]}
    )

    with atomic_path(plots_dir, is_dir=True) as tmp:
        roc.to_csv(tmp / "roc.csv", index=False)
        pr.to_csv(tmp / "precision_recall.csv", index=False)
        confusion.to_csv(tmp / "confusion.csv", index=False)
        png = tmp / "png"
        png.mkdir()

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(roc["fpr"], roc["tpr"])
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (validation)")
        fig.tight_layout()
        fig.savefig(png / "roc.png", dpi=100)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(pr["recall"], pr["precision"])
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (validation)")
        fig.tight_layout()
        fig.savefig(png / "precision_recall.png", dpi=100)
        plt.close(fig)

        matrix = pd.crosstab(confusion["actual"], confusion["predicted"]).reindex(
            index=names, columns=names, fill_value=0
        )
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(matrix.to_numpy(), cmap="Blues")
        for (i, j), v in np.ndenumerate(matrix.to_numpy()):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set_xticks([0, 1], names)
        ax.set_yticks([0, 1], names)
        ax.set(xlabel="predicted", ylabel="actual", title="Confusion (score > 0)")
        fig.tight_layout()
        fig.savefig(png / "confusion.png", dpi=100)
        plt.close(fig)

        if len(history):
            fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.5))
            ax1.plot(history["epoch"], history["train_loss"], marker="o", label="train")
            ax1.plot(history["epoch"], history["eval_loss"], marker="o", label="validation")
            ax1.set(xlabel="epoch", ylabel="loss", title="Loss")
            ax1.legend()
            ax2.plot(history["epoch"], history[f"ndcg@{k}"], marker="o")
            ax2.set(xlabel="epoch", ylabel=f"nDCG@{k}", title=f"Validation nDCG@{k}")
            fig.tight_layout()
            fig.savefig(png / "training.png", dpi=100)
            plt.close(fig)


def run_evaluate(
    frame: pd.DataFrame,
    model_scores: np.ndarray,
    pretrained_scores: np.ndarray,
    history: pd.DataFrame,
    k: int,
    metrics_path: Path,
    plots_dir: Path,
) -> dict[str, Any]:
    metrics = {
        "model": score_report(frame, model_scores, k),
        "bm25": score_report(frame, bm25_scores(frame), k),
        "pretrained": score_report(frame, pretrained_scores, k),
    }
    write_plots(frame, model_scores, history, plots_dir, k)
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
