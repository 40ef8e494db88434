"""The first stage: BM25 as Vespa's bm25(title) scores, its top-k, and the run metrics."""

from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranker.config import RetrieveParams, parse_params
from ranker.data.corpus import CorpusWriter, write_qrels
from ranker.errors import ParamError
from ranker.evaluation.topk import run_table
from ranker.retrieval.bm25 import Bm25, tokenize
from ranker.retrieval.retrieve import retrieve, run_retrieve


def vespa_bm25(docs: list[list[str]], query: list[str], k1: float, b: float) -> np.ndarray:
    """Vespa's documented formula, written out independently of bm25s: the reference the
    pipeline's first stage is held to."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros(n)
    for i, doc in enumerate(docs):
        tf = Counter(doc)
        for term in query:
            if tf[term]:
                idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                norm = k1 * (1 - b + b * len(doc) / avgdl)
                out[i] += idf * tf[term] * (k1 + 1) / (tf[term] + norm)
    return out


def test_tokenisation_is_stated_and_vespa_like() -> None:
    assert tokenize("SARS-CoV-2: Café_au lait, 2.5 mg/kg") == [
        "sars",
        "cov",
        "2",
        "cafe",
        "au",
        "lait",
        "2",
        "5",
        "mg",
        "kg",
    ]
    assert tokenize("  ") == []


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_scores_are_vespas_formula(k1: float, b: float) -> None:
    rng = random.Random(0)
    words = [f"w{i}" for i in range(40)]
    titles = [" ".join(rng.choices(words, k=rng.randint(1, 12))) for _ in range(300)]
    index = Bm25(titles, k1=k1, b=b)
    tokens = [tokenize(t) for t in titles]
    for _ in range(20):
        query = " ".join(rng.choices([*words, "unseen"], k=rng.randint(1, 4)))
        expected = vespa_bm25(tokens, tokenize(query), k1, b)
        np.testing.assert_allclose(index.scores(query), expected, rtol=1e-12, atol=1e-12)


def test_top_k_matches_only_and_settles_ties_by_corpus_order() -> None:
    titles = ["virus origin", "bats", "origin virus", "virus", "virus origin", "unrelated"]
    index = Bm25(titles, k1=1.2, b=0.75)
    docs, scores = index.top("virus origin", 10)
    # Docs 0, 2 and 4 tie (same words, same length): corpus order; "bats" and "unrelated"
    # share no word and are no hits at all (an OR query's matches).
    assert list(docs) == [0, 2, 4, 3]
    assert scores[0] == scores[1] == scores[2] > scores[3] > 0
    cut, _ = index.top("virus origin", 2)
    assert list(cut) == [0, 2]
    assert index.top("nothing here", 5)[0].size == 0


def test_run_metrics_count_unjudged_as_not_relevant() -> None:
    qrels = pd.DataFrame(
        {
            "query": ["q", "q", "q", "r"],
            "doc_id": ["rel", "non", "far", "x"],
            "grade": [2, 0, 1, 0],
            "relevant": [True, False, True, False],
        }
    )
    run = pd.DataFrame({"query": "q", "doc_id": ["unjudged", "rel", "non"], "rank": [0, 1, 2]})
    table = run_table(run, qrels, ["q", "r"], system="bm25", k=10, depth=3)
    # r has no relevant document: not scored.
    assert list(table["query"]) == ["q"]
    row = table.iloc[0]
    # trec_eval's gains are the grades, linear: grade 2 at rank 2 over the ideal 2, 1.
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert row["ndcg@10"] == pytest.approx((2 / math.log2(3)) / ideal)
    # Of the top 10 retrieved (here 3), the share judged.
    assert row["judged@10"] == pytest.approx(2 / 3)
    assert row["recall@3"] == pytest.approx(1 / 2)
    assert (row["candidates"], row["relevant"]) == (3, 2)
    # A query whose list is empty scores 0 rather than vanishing.
    empty = run_table(run.iloc[:0], qrels, ["q"], system="bm25", k=10, depth=3)
    assert empty[["ndcg@10", "judged@10", "recall@3"]].to_numpy().tolist() == [[0.0, 0.0, 0.0]]


def test_retrieve_stage_writes_every_querys_hits(tmp_path: Path) -> None:
    with CorpusWriter(tmp_path / "corpus.parquet") as corpus:
        corpus.add(["a", "b", "c", "d"], ["bat virus origin", "origin", "masks", "bat bat"])
    write_qrels(
        tmp_path / "qrels.parquet",
        [
            pd.DataFrame(
                {
                    "query": ["bat origin", "bat origin", "masks work"],
                    "doc_id": ["a", "c", "c"],
                    "grade": [1, 0, 1],
                    "relevant": [True, False, True],
                }
            )
        ],
    )
    metrics = run_retrieve(
        corpus_path=tmp_path / "corpus.parquet",
        qrels_path=tmp_path / "qrels.parquet",
        params=RetrieveParams(k=2),
        k=10,
        out_dir=tmp_path / "retrieve",
        metrics_path=tmp_path / "retrieve.json",
    )
    run = pd.read_parquet(tmp_path / "retrieve/run.parquet")
    assert list(run.columns) == ["query", "doc_id", "title", "rank", "score"]
    assert run[run["query"] == "bat origin"]["doc_id"].tolist() == ["a", "d"]
    assert run[run["query"] == "masks work"]["doc_id"].tolist() == ["c"]
    assert metrics["corpus_docs"] == 4 and metrics["queries"] == 2
    assert metrics["recall@2"] == 1.0 and metrics["ndcg@10"] == 1.0
    assert metrics["judged@10"] == pytest.approx((1 / 2 + 1 / 1) / 2)
    assert {"low", "high"} == set(metrics["ndcg@10_ci95"])


def test_the_same_inputs_give_the_same_run() -> None:
    corpus = pd.DataFrame({"doc_id": list("abcdef"), "title": ["x y", "y", "x", "z x", "y x", "x"]})
    first = retrieve(corpus, ["x", "y x"], RetrieveParams(k=3))
    second = retrieve(corpus.copy(), ["x", "y x"], RetrieveParams(k=3))
    pd.testing.assert_frame_equal(first, second)


def test_rerank_count_must_be_retrieve_k() -> None:
    with pytest.raises(ParamError, match=r"vespa\.rerank_count: 50, but retrieve\.k is 100"):
        parse_params({"vespa": {"rerank_count": 50}})
    assert parse_params({"vespa": {"rerank_count": 50}, "retrieve": {"k": 50}}).retrieve.k == 50


def test_the_samples_top_100_is_vespas_for_every_query(tmp_path: Path) -> None:
    """The first stage against Vespa's formula on the sample's real corpus: for each of the
    50 queries the same 100 documents in the same order (ties: corpus order)."""
    from ranker.config import DataParams
    from ranker.data.corpus import read_corpus
    from ranker.data.download import run_download

    run_download(DataParams(), tmp_path / "raw", tmp_path / "data.json")
    corpus = read_corpus(tmp_path / "raw/corpus.parquet")
    queries = sorted(pd.read_parquet(tmp_path / "raw/qrels.parquet")["query"].unique())
    run = retrieve(corpus, queries, RetrieveParams())
    tokens = [tokenize(t) for t in corpus["title"]]
    for query in queries:
        scores = vespa_bm25(tokens, tokenize(query), 1.2, 0.75)
        matched = np.flatnonzero(scores > 0)
        expected = matched[np.lexsort((matched, -scores[matched]))][:100]
        hits = run[run["query"] == query]
        assert hits["doc_id"].tolist() == corpus["doc_id"].to_numpy()[expected].tolist(), query
        np.testing.assert_allclose(hits["score"], scores[expected], rtol=1e-12)
