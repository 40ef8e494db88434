"""The mine stage: hard negatives from the first stage for the training (and validation)
queries, as sentence-transformers' `mine_hard_negatives` mines them from a retriever.

A candidate is one of the query's BM25 hits (data/retrieve/run.parquet) in the rank range
[mine.rank_min, mine.rank_max). It is never mined when the query already has it as a pair
(by document id or by the same title: corpora repeat titles under other ids), when the
judgements call it relevant (`qrels.parquet`: the false negative mining would otherwise
make), or when a guard against unjudged relevant documents says no: a first-stage score
above `mine.max_score`, or less than `mine.relative_margin` below the best first-stage
score of the query's relevant documents (kept when it is below at least one of them by the
margin, as the union of sentence-transformers' per-positive check). Of those left,
`mine.negatives` per query are taken, the best-ranked (`top`) or drawn with `mine.seed`
(`random`), each a pair of grade 0.

Why not `mine_hard_negatives` itself: it retrieves with an embedding model (a
SentenceTransformer), and the reranker is deployed behind BM25; the negatives that matter
are the hits it will rerank, from the run the evaluation reranks. Its guards are kept, with
its meanings.

Test queries are never mined: their pairs and their deployed ranking are what the model
is judged on. Their documents are part of the corpus and can be another query's mined
negative, as every deployed reranker is trained beside the corpus it reranks; that shows
the model a document's text with another query, never a test query's judgement.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ranker.config import MineParams, RetrieveParams
from ranker.data.corpus import read_corpus, read_qrels
from ranker.data.pairs import read_pairs
from ranker.errors import DataError
from ranker.files import atomic_path, write_json
from ranker.retrieval.bm25 import Bm25

log = logging.getLogger(__name__)

SPLITS = ("train", "valid")
# Why a candidate was not mined, in the order the checks run (metrics/mine.json).
REASONS = ("rank", "labelled", "judged_relevant", "max_score", "margin")


def best_relevant_scores(
    corpus: pd.DataFrame, qrels: pd.DataFrame, queries: list[str], retrieve: RetrieveParams
) -> dict[str, float]:
    """The best first-stage score among each query's relevant documents (0 when none
    shares a term with it), scored over the whole corpus as the retrieve stage scores."""
    index = Bm25(corpus["title"], k1=retrieve.k1, b=retrieve.b)
    position = pd.Series(np.arange(len(corpus)), index=corpus["doc_id"].to_numpy())
    relevant = qrels[qrels["relevant"]].groupby("query")["doc_id"].agg(list)
    best = {}
    for query in queries:
        docs = position.reindex(relevant.get(query, [])).dropna().astype(int).to_numpy()
        best[query] = float(index.scores(query)[docs].max()) if docs.size else 0.0
    return best


def mine_split(
    pairs: pd.DataFrame,
    run: pd.DataFrame,
    qrels: pd.DataFrame,
    params: MineParams,
    *,
    best: dict[str, float] | None,
    rank_max: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The pairs of one split with the negatives mined for its queries appended, and the
    counts of what happened to every candidate."""
    queries = sorted(pairs["query"].unique())
    hits = run[run["query"].isin(queries)]
    labelled_titles = pairs.groupby("query")["title"].agg(set)
    judged = qrels[qrels["query"].isin(queries)]
    relevant = judged[judged["relevant"]].groupby("query")["doc_id"].agg(set)
    judged_docs = judged.groupby("query")["doc_id"].agg(set)
    rng = np.random.default_rng(params.seed)
    skipped: Counter[str] = Counter()
    mined: list[pd.DataFrame] = []
    short = confirmed = 0
    for query, cands in hits.groupby("query", sort=True):
        cands = cands.sort_values("rank", kind="stable")
        reason = pd.Series("", index=cands.index)
        reason[(cands["rank"] < params.rank_min) | (cands["rank"] >= rank_max)] = "rank"
        titles = labelled_titles.get(query, set())
        open_ = reason == ""
        reason[open_ & cands["title"].isin(titles)] = "labelled"
        open_ = reason == ""
        reason[open_ & cands["doc_id"].isin(relevant.get(query, set()))] = "judged_relevant"
        if params.max_score is not None:
            open_ = reason == ""
            reason[open_ & (cands["score"] > params.max_score)] = "max_score"
        if params.relative_margin is not None and best is not None:
            open_ = reason == ""
            ceiling = (1 - params.relative_margin) * best[query]
            reason[open_ & (cands["score"] > ceiling)] = "margin"
        skipped.update(reason[reason != ""].tolist())
        eligible = cands[reason == ""].drop_duplicates("title")
        if params.sampling == "random" and len(eligible) > params.negatives:
            keep = np.sort(rng.choice(len(eligible), size=params.negatives, replace=False))
            eligible = eligible.iloc[keep]
        taken = eligible.head(params.negatives)
        short += len(taken) < params.negatives
        confirmed += int(taken["doc_id"].isin(judged_docs.get(query, set())).sum())
        mined.append(taken)
    # A query the first stage found nothing for mines nothing.
    short += len(set(queries) - set(hits["query"]))
    new = pd.concat(mined, ignore_index=True) if mined else run.iloc[:0]
    out = pd.concat(
        [
            pairs,
            pd.DataFrame(
                {
                    "query": new["query"].to_numpy(),
                    "title": new["title"].to_numpy(),
                    "label": 0,
                    "grade": 0,
                }
            ),
        ],
        ignore_index=True,
    )
    counts = {
        "queries": len(queries),
        "mined": len(new),
        "mined_judged_not_relevant": confirmed,
        "queries_short": int(short),
        "candidates": len(hits),
        "skipped": {r: int(skipped[r]) for r in REASONS},
    }
    return out, counts


def run_mine(
    *,
    split_dir: Path,
    run_path: Path,
    qrels_path: Path,
    corpus_path: Path,
    params: MineParams,
    retrieve: RetrieveParams,
    out_dir: Path,
    metrics_path: Path,
) -> dict[str, Any]:
    """data/mined/{train,valid}.csv: the split's pairs, with mined negatives where
    mine.negatives > 0 (train always, valid with mine.valid); unmined files are copied
    byte for byte."""
    rank_max = retrieve.k if params.rank_max is None else params.rank_max
    metrics: dict[str, Any] = {"negatives": params.negatives}
    with atomic_path(out_dir, is_dir=True) as tmp:
        todo = [s for s in SPLITS if params.negatives and (s == "train" or params.valid)]
        for name in SPLITS:
            if name not in todo:
                shutil.copyfile(split_dir / f"{name}.csv", tmp / f"{name}.csv")
        if todo:
            run = pd.read_parquet(run_path)
            qrels = read_qrels(qrels_path)
            best = None
            frames = {name: read_pairs(split_dir / f"{name}.csv") for name in todo}
            if params.relative_margin is not None:
                queries = sorted(set().union(*(f["query"] for f in frames.values())))
                best = best_relevant_scores(read_corpus(corpus_path), qrels, queries, retrieve)
            for name, frame in frames.items():
                out, counts = mine_split(frame, run, qrels, params, best=best, rank_max=rank_max)
                if not counts["mined"]:
                    raise DataError(
                        f"mine: no negative left for the {counts['queries']} {name} queries "
                        f"of {split_dir / (name + '.csv')} out of {counts['candidates']} "
                        f"first-stage candidates (skipped: {counts['skipped']}); widen "
                        "mine.rank_min/rank_max, relax mine.relative_margin or "
                        "mine.max_score, or set mine.negatives: 0"
                    )
                out.to_csv(tmp / f"{name}.csv", index=False)
                metrics[name] = counts
                log.info(
                    "mine %s: %d negatives for %d queries (%d short of %d), %d of them "
                    "judged not relevant; skipped %s",
                    name,
                    counts["mined"],
                    counts["queries"],
                    counts["queries_short"],
                    params.negatives,
                    counts["mined_judged_not_relevant"],
                    counts["skipped"],
                )
        else:
            log.info("mine: mine.negatives is 0; the split's train and valid pairs as they are")
    write_json(metrics_path, metrics)
    return metrics
