"""Build reference-schema pairs from the official TREC-COVID files.

The reference CSV was made by joining the qrels with the topics' queries and CORD-19
titles. `build_pairs` does that join; grades (0/1/2) are kept, so the result is loaded
with `data.graded_threshold` set.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

from ranker.errors import DataError


def read_topics(path: str | Path) -> dict[int, str]:
    """Topic number -> keyword query, from NIST's topics XML."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid topics XML ({exc})") from None
    topics: dict[int, str] = {}
    for topic in root.iter("topic"):
        number, query = topic.get("number"), topic.findtext("query")
        if number is None or not (query or "").strip():
            raise DataError(f"{path}: a <topic> lacks a number or a <query>")
        topics[int(number)] = query.strip()
    if not topics:
        raise DataError(f"{path}: no <topic> elements")
    return topics


def read_qrels(path: str | Path) -> pd.DataFrame:
    """Columns topic, round, cord_uid, relevance (space separated, no header)."""
    qrels = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["topic", "round", "cord_uid", "relevance"],
        dtype={"topic": int, "round": float, "cord_uid": str, "relevance": int},
    )
    bad = ~qrels["relevance"].isin([0, 1, 2])
    if bad.any():
        raise DataError(
            f"{path}: column 'relevance' has invalid value(s) "
            f"{sorted(qrels.loc[bad, 'relevance'].unique())[:5]}; allowed: 0, 1, 2"
        )
    return qrels


def build_pairs(
    topics: dict[int, str], qrels: pd.DataFrame, metadata: pd.DataFrame
) -> pd.DataFrame:
    """Join judgements with queries and titles: columns query, title, label (grade 0/1/2)."""
    titles = metadata[["cord_uid", "title"]].dropna()
    titles = titles[titles["title"].str.strip() != ""].drop_duplicates("cord_uid")
    joined = qrels.merge(titles, on="cord_uid", how="inner")
    joined["query"] = joined["topic"].map(topics)
    missing = joined["query"].isna()
    if missing.any():
        raise DataError(
            f"qrels: topic(s) {sorted(joined.loc[missing, 'topic'].unique())[:5]} not in topics"
        )
    return joined.rename(columns={"relevance": "label"})[["query", "title", "label"]].reset_index(
        drop=True
    )
