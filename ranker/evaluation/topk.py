"""Metrics of ranked lists drawn from the corpus (the first stage's hits, reranked or fused)
against the qrels, with trec_eval's conventions (ir-measures over pytrec_eval):

- a document nobody judged for the query counts as not relevant;
- nDCG@k gains are the grades; recall counts a document as relevant when its grade is
  >= the data's threshold (qrels.parquet's `relevant`);
- judged@k, the share of the top k retrieved (of fewer, if fewer were) that has a
  judgement at all, says how far nDCG@k can be trusted: a list full of unjudged documents
  scores low whether or not they are relevant;
- lists are ranked by their `rank` column (passed on as strictly decreasing scores, so
  trec_eval's own tie rule never reorders them);
- every query with a relevant judged document is scored; one whose list is empty scores 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import ir_measures
import pandas as pd
from ir_measures import Judged, R, nDCG

COLUMNS = ("query", "system", "candidates", "relevant")


def threshold(qrels: pd.DataFrame) -> int:
    """The lowest grade the data calls relevant (data.graded_threshold; 1 for binary)."""
    grades = qrels.loc[qrels["relevant"], "grade"]
    return int(grades.min()) if len(grades) else 1


def metric_names(k: int, depth: int) -> list[str]:
    return [f"ndcg@{k}", f"judged@{k}", f"recall@{depth}"]


def run_table(
    run: pd.DataFrame,
    qrels: pd.DataFrame,
    queries: Sequence[str],
    *,
    system: str,
    k: int,
    depth: int,
) -> pd.DataFrame:
    """One row per query of `queries` with a relevant judged document: query, system,
    candidates (the list's length), relevant (judged relevant documents), nDCG@k,
    judged@k, recall@depth. `run` has columns query, doc_id, rank (0 = top)."""
    wanted = set(queries)
    judged = qrels[qrels["query"].isin(wanted)]
    relevant = judged[judged["relevant"]].groupby("query").size()
    scored = [q for q in dict.fromkeys(queries) if relevant.get(q, 0) > 0]
    names = metric_names(k, depth)
    if not scored:
        return pd.DataFrame(columns=[*COLUMNS, *names])
    qid = {q: str(i) for i, q in enumerate(scored)}
    rel = threshold(qrels)
    measures = {
        f"ndcg@{k}": nDCG @ k,
        f"judged@{k}": Judged @ k,
        f"recall@{depth}": R(rel=rel) @ depth,
    }
    judged = judged[judged["query"].isin(qid)]
    qrels_frame = pd.DataFrame(
        {
            "query_id": judged["query"].map(qid),
            "doc_id": judged["doc_id"].astype(str),
            "relevance": judged["grade"].astype(int),
        }
    )
    hits = run[run["query"].isin(qid)]
    run_frame = pd.DataFrame(
        {
            "query_id": hits["query"].map(qid),
            "doc_id": hits["doc_id"].astype(str),
            "score": (depth - hits["rank"]).astype(float),
        }
    )
    values: dict[str, dict[str, float]] = {key: dict.fromkeys(names, 0.0) for key in qid.values()}
    by_measure = {str(m): name for name, m in measures.items()}
    if len(run_frame):
        for metric in ir_measures.iter_calc(list(measures.values()), qrels_frame, run_frame):
            values[metric.query_id][by_measure[str(metric.measure)]] = float(metric.value)
    candidates = hits.groupby("query").size()
    rows = [
        {
            "query": q,
            "system": system,
            "candidates": int(candidates.get(q, 0)),
            "relevant": int(relevant[q]),
            **values[qid[q]],
        }
        for q in scored
    ]
    return pd.DataFrame(rows, columns=[*COLUMNS, *names])
