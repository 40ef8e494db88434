"""A TREC collection as the source: topics, qrels and a document collection, joined into
graded pairs, with the whole collection as the first stage's corpus.

The download stage reaches this through a spec YAML as `data.source` (the packaged
ranker/data/trec_covid.yaml is TREC-COVID's; docs/data.md shows MS MARCO's and Robust04's):

    trec:
      topics:     {location: topics.xml, sha256: null, format: auto}  # ranker/data/topics.py
      qrels:      {location: qrels.txt, sha256: null}     # topic iteration doc_id grade
      collection: {location: docs.jsonl, sha256: null, format: auto, header: true,
                   columns: {doc_id: _id, title: title}}   # any pairs format's reader

A location is an http(s) URL or a path. The collection (CORD-19's metadata.csv is 1.5 GB)
is read in row chunks of its two columns: memory follows the judged documents' texts and
one chunk, not the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from ranker.data.corpus import CORPUS, QRELS, CorpusWriter, write_qrels
from ranker.data.fields import TITLE, extra_fields, joined
from ranker.data.formats import FORMATS, Columns, read_chunks, source_format
from ranker.data.topics import FORMATS as TOPIC_FORMATS
from ranker.data.topics import read_topics, topic_id
from ranker.errors import DataError, quoted
from ranker.files import read_yaml

log = logging.getLogger(__name__)

SPEC_KEY = "trec"
FILES = ("topics", "qrels", "collection")
# Rows a chunk of the collection: 10,000 MS MARCO passages or CORD-19 titles are a few MB.
CHUNK_ROWS = 10_000
QRELS_FIELDS = ("topic", "iteration", "doc_id", "grade")
COLLECTION = ("doc_id", "title")
_GRADE = re.compile(r"-?\d{1,6}")
# What each entry of the spec may say beyond its location and sha256.
_OPTIONS: dict[str, dict[str, Any]] = {
    "topics": {"format": "auto"},
    "qrels": {},
    "collection": {"format": "auto", "header": True, "columns": None},
}


def read_qrels(path: str | Path, max_grade: int | None = None) -> pd.DataFrame:
    """TREC qrels: `topic iteration doc_id grade` a line, space or tab separated, no header
    (NIST's, MS MARCO's, TREC DL's). Columns QRELS_FIELDS and line; a grade below 0 (the
    Web tracks' -2 for spam) is a judged non-relevant 0, as trec_eval's gains count it; one
    above `max_grade` (data.max_grade) fails naming its line.

    Read line by line: an error names the line and the field, and quotes nothing of the
    line, since a qrels location that points at the wrong file (say /etc/shadow) must not
    print its contents."""
    rows: list[tuple[str, str, str, int, int]] = []
    try:
        with open(path, "rb") as fh:
            for number, raw in enumerate(fh, start=1):
                rows.extend(_qrels_row(raw, number, path, max_grade))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the qrels ({exc.strerror})") from None
    if not rows:
        raise DataError(f"{path}: no qrels lines (expected: topic iteration doc_id grade)")
    frame = pd.DataFrame(rows, columns=[*QRELS_FIELDS, "line"])
    negative = frame["grade"] < 0
    if negative.any():
        log.info("%s: %d judgement(s) graded below 0 count as 0", path, int(negative.sum()))
        frame.loc[negative, "grade"] = 0
    return frame


def _qrels_row(
    raw: bytes, number: int, path: str | Path, max_grade: int | None
) -> list[tuple[str, str, str, int, int]]:
    where = f"{path}:{number}"
    try:
        fields = raw.decode("utf-8").split()
    except UnicodeDecodeError:
        raise DataError(f"{where}: not UTF-8 text; is this a qrels file?") from None
    if not fields:
        return []
    if len(fields) != len(QRELS_FIELDS):
        raise DataError(
            f"{where}: {len(fields)} field(s), expected 4 (topic iteration doc_id grade); "
            "is this a qrels file?"
        )
    topic, iteration, doc_id, grade = fields
    if not _GRADE.fullmatch(grade):
        raise DataError(f"{where}: the grade (field 4) is not a whole number")
    if max_grade is not None and int(grade) > max_grade:
        raise DataError(f"{where}: grade {int(grade)} is above data.max_grade {max_grade}")
    return [(topic_id(topic), iteration, doc_id, int(grade), number)]


def read_collection(
    path: str | Path,
    judged: set[str],
    *,
    fmt: str = "csv",
    columns: Columns | None = None,
    header: bool = True,
    corpus: CorpusWriter | None = None,
    chunk_rows: int = CHUNK_ROWS,
    text_fields: str = TITLE,
) -> pd.DataFrame:
    """doc_id, title of the `judged` documents (the first row with a text of each; the
    title is the text of `text_fields`), reading the collection in row chunks of the
    columns it needs; every row with an id and a text goes to `corpus` on the way."""
    columns = columns or Columns(
        required=(*COLLECTION, *extra_fields(text_fields)), param="collection.columns"
    )
    kept = []
    with tqdm(desc="collection", unit="doc", unit_scale=True) as bar:
        chunks = read_chunks(Path(path), str(path), fmt, columns, header=header, rows=chunk_rows)
        chunks = joined(chunks, text_fields)
        for chunk in chunks:
            chunk = chunk[(chunk["doc_id"] != "") & (chunk["title"] != "")]
            kept.append(chunk[chunk["doc_id"].isin(judged)])
            if corpus is not None:
                corpus.add(chunk["doc_id"].tolist(), chunk["title"].tolist())
            bar.update(len(chunk))
    if not kept:
        raise DataError(f"{path}: no rows")
    return pd.concat(kept, ignore_index=True).drop_duplicates("doc_id")


def load_spec(path: str | Path) -> dict[str, dict[str, Any]] | None:
    """The spec's three files as {name: {location, sha256, options}}; None if `path` is no
    spec."""
    try:
        doc = read_yaml(path)
    except ValueError:
        return None
    if isinstance(doc, dict) and "trec_covid" in doc:
        raise DataError(
            f"{path}: the trec_covid: spec is now trec: with a collection: entry (metadata "
            "becomes collection, with columns {doc_id: cord_uid}); see ranker/data/trec_covid.yaml"
        )
    if not isinstance(doc, dict) or SPEC_KEY not in doc:
        return None
    spec = doc[SPEC_KEY]
    if not isinstance(spec, dict):
        raise DataError(f"{path}: {SPEC_KEY} must map topics, qrels and collection")
    unknown = sorted(set(spec) - set(FILES))
    if unknown:
        raise DataError(f"{path}: {SPEC_KEY}.{unknown[0]} is not one of {', '.join(FILES)}")
    return {name: _entry(path, name, spec.get(name)) for name in FILES}


def _entry(path: str | Path, name: str, entry: Any) -> dict[str, Any]:
    where = f"{path}: {SPEC_KEY}.{name}"
    if not isinstance(entry, dict) or not str(entry.get("location") or "").strip():
        raise DataError(f"{where} needs a location (URL or path)")
    unknown = sorted(set(entry) - {"location", "sha256", *_OPTIONS[name]})
    if unknown:
        raise DataError(f"{where}.{unknown[0]} is not a setting of {name}")
    digest = entry.get("sha256")
    if digest is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(digest)):
        raise DataError(f"{where}.sha256 {digest!r} is not a SHA-256")
    out = {"location": str(entry["location"]), "sha256": digest}
    for key, default in _OPTIONS[name].items():
        out[key] = entry.get(key, default)
    allowed = TOPIC_FORMATS if name == "topics" else ("auto", *FORMATS)
    if "format" in out and out["format"] not in allowed:
        raise DataError(f"{where}.format {quoted(str(out['format']))}: one of {', '.join(allowed)}")
    if name == "collection":
        _collection_options(where, out)
    return out


def _collection_options(where: str, entry: dict[str, Any]) -> None:
    if not isinstance(entry["header"], bool):
        raise DataError(f"{where}.header must be true or false")
    fmt = source_format(entry["location"], entry["format"])
    if not entry["header"] and fmt not in ("csv", "tsv"):
        raise DataError(f"{where}.header: false applies to CSV or TSV, not {fmt}")
    mapping = entry["columns"] or {}
    if not isinstance(mapping, dict) or set(mapping) - set(COLLECTION):
        raise DataError(f"{where}.columns maps doc_id and title to the collection's names")
    # A file without a header names its columns by position: MS MARCO's id, then passage.
    defaults = (
        {"doc_id": "doc_id", "title": "title"} if entry["header"] else {"doc_id": "1", "title": "2"}
    )
    entry["columns"] = {**defaults, **{k: str(v) for k, v in mapping.items()}}
    entry["format"] = fmt


def build_pairs(
    topics: dict[str, str], qrels: pd.DataFrame, texts: pd.DataFrame, qrels_name: str
) -> pd.DataFrame:
    """Join judgements with queries and texts: columns query, title, label (the grade),
    doc_id. A judged document the collection has no text for is left out (a text index
    cannot retrieve it either)."""
    unknown = ~qrels["topic"].isin(set(topics))
    if unknown.any():
        row = qrels[unknown].iloc[0]
        raise DataError(
            f"{qrels_name}:{row['line']}: topic {quoted(row['topic'])} is not in the topics "
            f"({qrels.loc[unknown, 'topic'].nunique()} such topic(s))"
        )
    joined = qrels.merge(texts, on="doc_id", how="inner")
    joined["query"] = joined["topic"].map(topics)
    columns = ["query", "title", "grade", "doc_id"]
    return joined[columns].rename(columns={"grade": "label"}).reset_index(drop=True)


def build_from_spec(
    spec: dict[str, dict[str, Any]],
    *,
    query_field: str,
    graded_threshold: int,
    max_grade: int | None = None,
    fetch: Callable[[str, str | None, str], Path],
    corpus_dir: Path,
    text_fields: str = TITLE,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fetch the three files (`fetch(location, sha256, name)` returns a local, verified
    path) and join them; returns the pairs (label = grade) and what the join did. The
    corpus (every document of the collection with a text) and the qrels of the documents
    in it go to `corpus_dir`."""
    paths = {name: fetch(entry["location"], entry["sha256"], name) for name, entry in spec.items()}
    topics = read_topics(paths["topics"], query_field, spec["topics"]["format"])
    qrels = read_qrels(paths["qrels"], max_grade)
    entry = spec["collection"]
    columns = Columns(
        entry["columns"],
        required=(*COLLECTION, *extra_fields(text_fields)),
        param="collection.columns",
    )
    with CorpusWriter(corpus_dir / CORPUS) as corpus:
        texts = read_collection(
            paths["collection"],
            set(qrels["doc_id"]),
            fmt=entry["format"],
            columns=columns,
            header=entry["header"],
            corpus=corpus,
            text_fields=text_fields,
        )
    pairs = build_pairs(topics, qrels, texts, spec["qrels"]["location"])
    if pairs.empty:
        raise DataError(
            f"{entry['location']}: no judged document has a text; is it the collection the "
            "qrels judge (and collection.columns its id)?"
        )
    judged = pairs.rename(columns={"label": "grade"})
    judgements = write_qrels(
        corpus_dir / QRELS, [judged.assign(relevant=judged["grade"] >= graded_threshold)]
    )
    log.info(
        "TREC: %d judgements, %d of documents with a text, %d topics; %d documents",
        len(qrels),
        len(pairs),
        pairs["query"].nunique(),
        corpus.docs,
    )
    info = {"query_field": query_field, "judgements": len(qrels), "joined": len(pairs)}
    ids = entry["columns"]["doc_id"]
    corpus_info = {"corpus_docs": corpus.docs, "corpus_ids": ids, "judgements": judgements}
    return pairs.drop(columns="doc_id"), {**info, "corpus": corpus_info}
