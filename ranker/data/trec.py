"""Build reference-schema pairs from the official TREC-COVID files.

The reference CSV was made by joining the qrels with the topics' queries and CORD-19
titles. `build_pairs` does that join; grades (0/1/2) are kept, so the result is loaded
with `data.graded_threshold` set.

The download stage reaches this through a spec YAML as `data.source` (the packaged one is
ranker/data/trec_covid.yaml): the three files' locations (URL or path) and optional
SHA-256s. CORD-19's metadata.csv is 1.5 GB; it is read in row chunks keeping cord_uid and
title of judged documents only, so memory follows the judged set, not the file.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ranker.data.corpus import CORPUS, QRELS, CorpusWriter, write_qrels
from ranker.errors import DataError, quoted
from ranker.files import read_yaml

log = logging.getLogger(__name__)

SPEC_KEY = "trec_covid"
FILES = ("topics", "qrels", "metadata")
CHUNK_ROWS = 50_000


def read_topics(path: str | Path, field: str = "query") -> dict[int, str]:
    """Topic number -> its text, from NIST's topics XML: the keyword `query`, the
    natural-language `question`, or `both` joined by a space."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid topics XML ({exc})") from None
    topics: dict[int, str] = {}
    for topic in root.iter("topic"):
        number = topic.get("number")
        names = ("query", "question") if field == "both" else (field,)
        texts = [(topic.findtext(name) or "").strip() for name in names]
        if number is None or not all(texts):
            raise DataError(f"{path}: a <topic> lacks a number or a <{'>/<'.join(names)}>")
        if not number.strip().isdigit():
            raise DataError(f"{path}: <topic number={quoted(number)}>: not a whole number")
        topics[int(number)] = " ".join(texts)
    if not topics:
        raise DataError(f"{path}: no <topic> elements")
    return topics


QRELS_FIELDS = ("topic", "round", "cord_uid", "relevance")


def read_qrels(path: str | Path) -> pd.DataFrame:
    """Columns topic, round, cord_uid, relevance (space separated, no header).

    Read line by line: an error names the line and the field, and quotes nothing of the
    line, since a qrels location that points at the wrong file (say /etc/shadow) must not
    print its contents."""
    rows: list[tuple[int, float, str, int]] = []
    try:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                rows.extend(_qrels_row(raw, number, path))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the qrels ({exc.strerror})") from None
    if not rows:
        raise DataError(f"{path}: no qrels lines (expected: topic round doc_id relevance)")
    return pd.DataFrame(rows, columns=list(QRELS_FIELDS)).astype(
        {"topic": int, "round": float, "cord_uid": str, "relevance": int}
    )


def _qrels_row(raw: bytes, number: int, path: str | Path) -> list[tuple[int, float, str, int]]:
    where = f"{path}:{number}"
    try:
        fields = raw.decode("utf-8").split()
    except UnicodeDecodeError:
        raise DataError(f"{where}: not UTF-8 text; is this a qrels file?") from None
    if not fields:
        return []
    if len(fields) != len(QRELS_FIELDS):
        raise DataError(
            f"{where}: {len(fields)} field(s), expected 4 (topic round doc_id relevance); "
            "is this a qrels file?"
        )
    topic, round_, uid, grade = fields
    if not topic.isdigit():
        raise DataError(f"{where}: the topic (field 1) is not a whole number")
    try:
        round_number = float(round_)
    except ValueError:
        raise DataError(f"{where}: the round (field 2) is not a number") from None
    if grade not in ("0", "1", "2"):
        raise DataError(f"{where}: the relevance (field 4) is not 0, 1 or 2")
    return [(int(topic), round_number, uid, int(grade))]


def build_pairs(
    topics: dict[int, str], qrels: pd.DataFrame, metadata: pd.DataFrame
) -> pd.DataFrame:
    """Join judgements with queries and titles: columns query, title, label (grade 0/1/2),
    cord_uid."""
    titles = metadata[["cord_uid", "title"]].dropna()
    titles = titles[titles["title"].str.strip() != ""].drop_duplicates("cord_uid")
    joined = qrels.merge(titles, on="cord_uid", how="inner")
    joined["query"] = joined["topic"].map(topics)
    missing = joined["query"].isna()
    if missing.any():
        raise DataError(
            f"qrels: topic(s) {sorted(joined.loc[missing, 'topic'].unique())[:5]} not in topics"
        )
    columns = ["query", "title", "label", "cord_uid"]
    return joined.rename(columns={"relevance": "label"})[columns].reset_index(drop=True)


def read_titles(
    path: str | Path,
    uids: set[str],
    chunk_rows: int = CHUNK_ROWS,
    *,
    corpus: CorpusWriter | None = None,
) -> pd.DataFrame:
    """cord_uid, title of the documents in `uids`, reading CORD-19's metadata.csv in row
    chunks of its two needed columns: memory holds one chunk plus the kept titles. Every
    row with a cord_uid and a title goes to `corpus` on the way."""
    kept = []
    try:
        reader = pd.read_csv(
            path,
            usecols=["cord_uid", "title"],
            dtype=str,
            keep_default_na=False,
            chunksize=chunk_rows,
        )
        with reader, tqdm(desc="metadata", unit="row", unit_scale=True) as bar:
            for chunk in reader:
                kept.append(chunk[chunk["cord_uid"].isin(uids)])
                if corpus is not None:
                    titled = chunk[
                        (chunk["cord_uid"].str.strip() != "") & (chunk["title"].str.strip() != "")
                    ]
                    corpus.add(titled["cord_uid"].tolist(), titled["title"].tolist())
                bar.update(len(chunk))
    except ValueError as exc:
        # pandas names missing usecols this way; a parse error is a ParserError (ValueError).
        raise DataError(
            f"{path}: not a CORD-19 metadata.csv ({str(exc).splitlines()[0]})"
        ) from None
    if not kept:
        raise DataError(f"{path}: no rows")
    return pd.concat(kept, ignore_index=True)


def load_spec(path: str | Path) -> dict[str, dict[str, Any]] | None:
    """The spec's three files as {name: {location, sha256}}; None if `path` is no spec."""
    try:
        doc = read_yaml(path)
    except ValueError:
        return None
    if not isinstance(doc, dict) or SPEC_KEY not in doc:
        return None
    spec = doc[SPEC_KEY]
    out = {}
    for name in FILES:
        entry = spec.get(name) if isinstance(spec, dict) else None
        if not isinstance(entry, dict) or not str(entry.get("location") or "").strip():
            raise DataError(f"{path}: {SPEC_KEY}.{name} needs a location (URL or path)")
        digest = entry.get("sha256")
        if digest is not None and (len(str(digest)) != 64 or not _hex(str(digest))):
            raise DataError(f"{path}: {SPEC_KEY}.{name}.sha256 {digest!r} is not a SHA-256")
        out[name] = {"location": str(entry["location"]), "sha256": digest}
    return out


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def build_from_spec(
    spec: dict[str, dict[str, Any]],
    *,
    query_field: str,
    graded_threshold: int,
    fetch: Callable[[str, str | None, str], Path],
    corpus_dir: Path,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fetch the three files (`fetch(location, sha256, name)` returns a local, verified
    path) and join them; returns the pairs (label = grade) and where each file came from.
    The corpus (every titled document of metadata.csv) and the qrels of the documents in
    it go to `corpus_dir`."""
    paths = {name: fetch(entry["location"], entry["sha256"], name) for name, entry in spec.items()}
    topics = read_topics(paths["topics"], query_field)
    qrels = read_qrels(paths["qrels"])
    with CorpusWriter(corpus_dir / CORPUS) as corpus:
        titles = read_titles(paths["metadata"], set(qrels["cord_uid"]), corpus=corpus)
    pairs = build_pairs(topics, qrels, titles)
    judged = pairs.rename(columns={"cord_uid": "doc_id", "label": "grade"})
    judgements = write_qrels(
        corpus_dir / QRELS, [judged.assign(relevant=judged["grade"] >= graded_threshold)]
    )
    pairs = pairs.drop(columns="cord_uid")
    if pairs.empty:
        raise DataError(
            f"{spec['metadata']['location']}: no judged document has a title; "
            "is it the CORD-19 release the qrels judge?"
        )
    log.info(
        "TREC-COVID: %d judgements, %d with a title, %d topics",
        len(qrels),
        len(pairs),
        pairs["query"].nunique(),
    )
    info = {"query_field": query_field, "judgements": len(qrels), "joined": len(pairs)}
    corpus_info = {"corpus_docs": corpus.docs, "corpus_ids": "cord_uid", "judgements": judgements}
    return pairs, {**info, "corpus": corpus_info}
