"""The retrieve stage: BM25's top `retrieve.k` titles from the whole corpus for every
query of the data, and the first stage's own quality.

Every query is retrieved, whatever its split: BM25 learns nothing from the queries, and
one run then serves the test split, the fusion weight's choice on validation queries and
every cross-validation fold. data/retrieve/run.parquet holds query, doc_id, title, rank
(0 = top) and score (Vespa's `bm25(title)` value).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ranker.config import RetrieveParams
from ranker.data.corpus import read_corpus, read_qrels
from ranker.evaluation.report import summarize_table
from ranker.evaluation.topk import metric_names, run_table
from ranker.files import atomic_path, write_json
from ranker.retrieval.bm25 import TOKENISATION, Bm25

log = logging.getLogger(__name__)

RUN = "run.parquet"
RUN_SCHEMA = pa.schema(
    [
        ("query", pa.string()),
        ("doc_id", pa.string()),
        ("title", pa.string()),
        ("rank", pa.int64()),
        ("score", pa.float64()),
    ]
)


def retrieve(corpus: pd.DataFrame, queries: list[str], params: RetrieveParams) -> pd.DataFrame:
    """The first stage's hits of every query, in RUN_SCHEMA's columns."""
    index = Bm25(corpus["title"], k1=params.k1, b=params.b)
    ids, titles = corpus["doc_id"].to_numpy(), corpus["title"].to_numpy()
    parts = []
    for query in tqdm(queries, desc="retrieve", unit="query"):
        docs, scores = index.top(query, params.k)
        parts.append(
            pd.DataFrame(
                {
                    "query": query,
                    "doc_id": ids[docs],
                    "title": titles[docs],
                    "rank": range(len(docs)),
                    "score": scores,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def run_retrieve(
    *,
    corpus_path: Path,
    qrels_path: Path,
    params: RetrieveParams,
    k: int,
    out_dir: Path,
    metrics_path: Path,
) -> dict[str, Any]:
    corpus = read_corpus(corpus_path)
    qrels = read_qrels(qrels_path)
    queries = sorted(qrels["query"].unique())
    run = retrieve(corpus, queries, params)
    with atomic_path(out_dir, is_dir=True) as tmp:
        pq.write_table(
            pa.Table.from_pandas(run, schema=RUN_SCHEMA, preserve_index=False), tmp / RUN
        )
    table = run_table(run, qrels, queries, system="bm25", k=k, depth=params.k)
    metrics = {
        "corpus_docs": len(corpus),
        "queries": len(table),
        "queries_without_relevant": len(queries) - len(table),
        "k": params.k,
        "k1": params.k1,
        "b": params.b,
        "tokenisation": TOKENISATION,
        **summarize_table(table)["bm25"],
    }
    write_json(metrics_path, metrics)
    ndcg, _, recall = metric_names(k, params.k)
    log.info(
        "BM25 over %d documents, %d queries: %s %.4f, %s %.4f",
        len(corpus),
        len(table),
        ndcg,
        metrics[ndcg],
        recall,
        metrics[recall],
    )
    return metrics
