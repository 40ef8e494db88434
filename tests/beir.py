"""A small BEIR folder written by the tests (never downloaded): corpus.jsonl, queries.jsonl
and qrels/{train,dev,test}.tsv, graded 0-2 with judged non-relevant documents, a passage
without a title and documents nobody judged, built from the synthetic sample."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

SPLITS = {"train": 8, "dev": 3, "test": 3}


def write_beir(root: Path, pairs_per_query: int = 12) -> dict[str, list[str]]:
    """The folder at `root`; returns the query ids of each qrels file."""
    from ranker.data.sample import generate_sample

    sample = generate_sample(pairs_per_query=pairs_per_query)
    queries = sorted(sample["query"].unique())[: sum(SPLITS.values())]
    sample = sample[sample["query"].isin(queries)].reset_index(drop=True)
    titles = sorted(set(sample["title"]))
    doc_of = {t: f"doc{i}" for i, t in enumerate(titles)}
    root.mkdir(parents=True)
    with open(root / "corpus.jsonl", "w", encoding="utf-8") as out:
        for i, title in enumerate(titles):
            # Every fifth a passage without a title, as MS MARCO's are.
            record = {"_id": doc_of[title], "title": "" if i % 5 == 0 else title}
            record["text"] = title if i % 5 == 0 else f"Abstract of {title}."
            out.write(json.dumps(record) + "\n")
        for i in range(5):  # in the corpus, judged by nobody
            out.write(json.dumps({"_id": f"extra{i}", "title": f"Unjudged paper {i}"}) + "\n")
    qid = {q: f"q{i}" for i, q in enumerate(queries)}
    with open(root / "queries.jsonl", "w", encoding="utf-8") as out:
        for q in queries:
            out.write(json.dumps({"_id": qid[q], "text": q, "metadata": {}}) + "\n")
        out.write(json.dumps({"_id": "q-unjudged", "text": "a query with no qrels"}) + "\n")
    (root / "qrels").mkdir()
    given, start = {}, 0
    for name, n in SPLITS.items():
        chosen = queries[start : start + n]
        start += n
        rows = sample[sample["query"].isin(chosen)]
        grade = rows["label"] * 2 - (rows.index % 3 == 0).astype(int) * rows["label"]
        pd.DataFrame(
            {
                "query-id": rows["query"].map(qid),
                "corpus-id": rows["title"].map(doc_of),
                "score": grade,
            }
        ).to_csv(root / "qrels" / f"{name}.tsv", sep="\t", index=False)
        given[name] = [qid[q] for q in chosen]
    return given
