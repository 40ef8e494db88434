"""The evaluate stage: the fine-tuned model beside BM25 and the untuned pretrained model, on
queries neither training nor model selection saw (the test split, or a CV fold's queries),
in two views:
- judged pairs (the reference recipe's setting): each system ranks only the judged pairs
  of a query, BM25 with IDF over those pairs;
- deployed (`deployed` in eval.json, ranker/evaluation/deployed.py): the model reranks
  the first stage's top-k from the whole corpus, unjudged documents count as not
  relevant, and a fusion of both scores is measured beside it."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from ranker.errors import DataError
from ranker.evaluation.deployed import TABLE as DEPLOYED_TABLE
from ranker.evaluation.deployed import WIDE as DEPLOYED_WIDE
from ranker.evaluation.deployed import summarize as summarize_deployed
from ranker.evaluation.ranking import classification_metrics
from ranker.evaluation.report import per_query_table, summarize, wide, without_relevant
from ranker.files import atomic_path, write_json
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


def _thin(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) <= MAX_CURVE_POINTS:
        return df
    idx = np.unique(np.linspace(0, len(df) - 1, MAX_CURVE_POINTS).round().astype(int))
    return df.iloc[idx]


def write_plots(
    *,
    frame: pd.DataFrame,
    scores: np.ndarray,
    table: pd.DataFrame,
    behaviour: pd.DataFrame,
    k: int,
    plots_dir: Path,
    deployed: pd.DataFrame,
) -> None:
    """CSV files `dvc plots show` renders (dvc.yaml's top-level plots): ROC, precision-recall,
    confusion, per-query nDCG@k of every system in both views; the long per-query tables
    (what `make compare` and cross-validation read); the judged behaviour cases. Training
    curves are dvclive's, written by train."""
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
        wide(table, f"ndcg@{k}").reset_index().to_csv(tmp / "per_query.csv", index=False)
        table.to_csv(tmp / "per_query_metrics.csv", index=False)
        wide(deployed, f"ndcg@{k}").reset_index().to_csv(tmp / DEPLOYED_WIDE, index=False)
        deployed.to_csv(tmp / DEPLOYED_TABLE, index=False)
        behaviour.to_csv(tmp / "behaviour.csv", index=False)


def run_evaluate(
    *,
    frame: pd.DataFrame,
    model_scores: np.ndarray,
    pretrained_scores: np.ndarray,
    behaviour: tuple[dict[str, Any], pd.DataFrame],
    deployed: tuple[pd.DataFrame, dict[str, Any]],
    k: int,
    depth: int,
    metrics_path: Path,
    plots_dir: Path,
) -> dict[str, Any]:
    """`deployed`: the per-query table of the deployed view and the fusion weight's choice
    (`ranker.evaluation.deployed.per_query`); `depth`: the first stage's k."""
    systems = {
        "model": model_scores,
        "bm25": bm25_scores(frame),
        "pretrained": pretrained_scores,
    }
    table = per_query_table(frame, systems, k)
    if table.empty:
        raise DataError(
            f"evaluate: none of the {frame['query'].nunique()} held-out queries has a relevant "
            "pair; nothing to rank (more data, or another split.seed)"
        )
    metrics = summarize(table, k)
    # Queries whose candidates hold no relevant pair rank nothing: left out of every ranking
    # metric, as ir_measures does, and named, so a count that shrank says why.
    unranked = without_relevant(frame, table)
    metrics["queries_without_relevant"] = len(unranked)
    if unranked:
        shown = ", ".join(repr(q) for q in unranked[:5])
        log.warning(
            "evaluate: %d of %d held-out queries have no relevant pair and are left out of "
            "the ranking metrics: %s%s",
            len(unranked),
            frame["query"].nunique(),
            shown,
            " ..." if len(unranked) > 5 else "",
        )
    labels = frame["label"].to_numpy()
    for name, scores in systems.items():
        metrics[name] = {**classification_metrics(labels, scores), **metrics[name]}
    metrics["behaviour"] = behaviour[0]
    topk, fusion = deployed
    if topk.empty:
        raise DataError(
            "evaluate: no held-out query has a relevant document in data/raw/qrels.parquet; "
            "nothing to rank"
        )
    metrics["deployed"] = {
        "k": depth,
        **summarize_deployed(topk, k),
        **fusion,
    }
    write_plots(
        frame=frame,
        scores=model_scores,
        table=table,
        behaviour=behaviour[1],
        k=k,
        plots_dir=plots_dir,
        deployed=topk,
    )
    write_json(metrics_path, metrics)
    key = f"ndcg@{k}"
    top = metrics["deployed"]
    log.info(
        "%d held-out queries, reranking BM25's top %d, %s: model %.4f, bm25 %.4f, fusion "
        "%.4f (judged@%d %.2f); judged pairs: model %.4f, bm25 %.4f, pretrained %.4f; "
        "behaviour %.0f%%",
        top["queries"],
        depth,
        key,
        top["model"][key],
        top["bm25"][key],
        top["fusion"][key],
        k,
        top["model"][f"judged@{k}"],
        metrics["model"][key],
        metrics["bm25"][key],
        metrics["pretrained"][key],
        100 * behaviour[0]["pass_rate"],
    )
    return metrics
