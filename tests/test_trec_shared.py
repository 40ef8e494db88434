"""Format checks against the official TREC-COVID files in ../shared (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ranker.data.trec import build_pairs, read_qrels, read_topics
from ranker.data.validate import validate_pairs


def test_topics_and_qrels_parse(shared_trec: Path) -> None:
    topics = read_topics(shared_trec / "topics.xml")
    assert len(topics) == 50 and topics["1"] == "coronavirus origin"
    qrels = read_qrels(shared_trec / "qrels.txt")
    assert len(qrels) == 69316
    assert set(qrels["grade"].unique()) <= {0, 1, 2}
    assert qrels["topic"].nunique() == 50


def test_join_gives_reference_schema_that_validates(shared_trec: Path) -> None:
    topics = read_topics(shared_trec / "topics.xml")
    qrels = read_qrels(shared_trec / "qrels.txt")
    metadata = pd.read_csv(shared_trec / "metadata-sample.csv", dtype=str, keep_default_na=False)
    texts = metadata[["cord_uid", "title"]].rename(columns={"cord_uid": "doc_id"})
    texts = texts[texts["title"].str.strip() != ""].drop_duplicates("doc_id")
    pairs = build_pairs(topics, qrels, texts, "qrels.txt")
    assert list(pairs.columns) == ["query", "title", "label", "doc_id"]
    pairs = pairs.drop(columns="doc_id")
    assert len(pairs) == 165
    raw = pairs.to_csv(index=False).encode()
    clean, _report = validate_pairs(raw, "trec-join", graded_threshold=1)
    assert set(clean["label"]) == {0, 1}
    # Graded labels are rejected unless the threshold applies.
    try:
        validate_pairs(raw, "trec-join")
    except Exception as exc:
        assert "label" in str(exc) and "'2'" in str(exc)
    else:
        raise AssertionError("grades 2 must not pass as binary labels")
