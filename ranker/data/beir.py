"""A BEIR dataset as the source: a folder holding `corpus.jsonl` ({"_id", "title", "text"}),
`queries.jsonl` ({"_id", "text"}) and `qrels/{train,dev,test}.tsv` (query-id, corpus-id,
score, with a header), as BEIR's own loader reads it.

The pairs are the qrels joined with the texts: a document's text is its title, or its text
where the title is empty (MS MARCO's passages have none); the grade is the score. The corpus
of the first stage is the whole of corpus.jsonl, streamed, judged or not; the qrels are the
judgements by document id. Each judgement keeps the split of the file it came from, which
`split.strategy: given` uses (dev is validation).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ranker.data.corpus import CORPUS, QRELS, CorpusWriter, write_qrels
from ranker.data.fields import SEPARATOR, TITLE, extra_fields
from ranker.data.formats import json_lines
from ranker.errors import DataError

log = logging.getLogger(__name__)

FILES = ("corpus.jsonl", "queries.jsonl")
QRELS_SPLITS = {"train": "train", "dev": "valid", "test": "test"}
CORPUS_CHUNK = 10_000


def is_beir(path: Path) -> bool:
    """A folder with BEIR's two JSON Lines files or its qrels folder."""
    return path.is_dir() and any((path / name).exists() for name in (*FILES, "qrels"))


def _records(path: Path, shown: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """`shown`: how errors name the file (an archive's entry, where it was extracted)."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            for number, record in json_lines(handle, shown):
                if not isinstance(record, dict) or "_id" not in record:
                    raise DataError(f'{shown}: line {number} is not an object with an "_id"')
                yield number, record
    except UnicodeDecodeError:
        raise DataError(f"{shown}: not UTF-8 text") from None


def _qrels(root: Path, shown: str) -> pd.DataFrame:
    files = [root / "qrels" / f"{name}.tsv" for name in QRELS_SPLITS]
    present = [f for f in files if f.is_file()]
    if not present:
        raise DataError(
            f"{shown}: no qrels/train.tsv, qrels/dev.tsv or qrels/test.tsv; a BEIR folder "
            "needs at least one"
        )
    parts = []
    for path in present:
        name = f"{shown}/qrels/{path.name}"
        try:
            frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        except pd.errors.ParserError as exc:
            raise DataError(f"{name}: not a valid TSV ({str(exc).strip()})") from None
        except UnicodeDecodeError:
            raise DataError(f"{name}: not UTF-8 text") from None
        frame.columns = [str(c).strip() for c in frame.columns]
        if list(frame.columns[:3]) != ["query-id", "corpus-id", "score"]:
            raise DataError(
                f"{name}: header {list(frame.columns)}, expected query-id, corpus-id, score"
            )
        bad = ~frame["score"].str.fullmatch(r"\d{1,6}")
        if bad.any():
            line = int(bad.to_numpy().argmax()) + 2
            raise DataError(
                f"{name}: line {line}: score {frame['score'][bad].iat[0]!r} is not a "
                "non-negative integer"
            )
        parts.append(
            frame.iloc[:, :3].assign(
                split=QRELS_SPLITS[path.stem], line=range(2, len(frame) + 2), file=name
            )
        )
    qrels = pd.concat(parts, ignore_index=True)
    qrels["score"] = qrels["score"].astype(int)
    spread = qrels.groupby("query-id")["split"].nunique()
    if (spread > 1).any():
        query = spread[spread > 1].index[0]
        raise DataError(
            f"{shown}: query-id {query!r} is judged in more than one of the qrels files; a "
            "query belongs to one split"
        )
    return qrels


def _first_unknown(qrels: pd.DataFrame, known: set[str], column: str, name: str) -> None:
    unknown = ~qrels[column].isin(known)
    if unknown.any():
        row = qrels[unknown].iloc[0]
        raise DataError(
            f"{row['file']}: line {row['line']} names {column} {row[column]!r}, which "
            f"{name} does not hold ({int(unknown.sum())} such judgement(s))"
        )


def document_text(record: dict[str, Any], text_fields: str = TITLE) -> str:
    """A corpus record's text: its title, or its text where the title is empty (MS MARCO's
    passages have none); with more `text_fields`, those keys joined (ranker/data/fields.py)."""
    title = str(record.get("title") or "").strip()
    if text_fields == TITLE:
        return title or str(record.get("text") or "").strip()
    parts = [title, *(str(record.get(f) or "").strip() for f in extra_fields(text_fields))]
    return SEPARATOR.join(p for p in parts if p)


def build_from_beir(
    root: Path,
    *,
    corpus_dir: Path,
    graded_threshold: int | None,
    shown: str | None = None,
    text_fields: str = TITLE,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The pairs (query, title, label = score, split) of a BEIR folder, a document's title
    being its text of `text_fields`; its corpus and qrels go to `corpus_dir`. Memory holds
    the qrels, the judged queries' texts and the judged documents' texts, never the corpus.
    `shown` names the folder in errors (default: its path)."""
    shown = shown or str(root)
    missing = [name for name in FILES if not (root / name).is_file()]
    if missing:
        raise DataError(f"{shown}: missing {', '.join(missing)}; not a complete BEIR folder")
    qrels = _qrels(root, shown)
    judged_queries = set(qrels["query-id"])
    queries = {
        str(r["_id"]): str(r.get("text", "")).strip()
        for _, r in _records(root / "queries.jsonl", f"{shown}/queries.jsonl")
        if str(r["_id"]) in judged_queries
    }
    _first_unknown(qrels, set(queries), "query-id", "queries.jsonl")
    judged_docs = set(qrels["corpus-id"])
    texts: dict[str, str] = {}
    with CorpusWriter(corpus_dir / CORPUS) as corpus:
        ids: list[str] = []
        titles: list[str] = []
        unseen = set(extra_fields(text_fields))
        for _, record in _records(root / "corpus.jsonl", f"{shown}/corpus.jsonl"):
            doc_id = str(record["_id"])
            unseen -= record.keys()
            text = document_text(record, text_fields)
            if not text:
                continue
            ids.append(doc_id)
            titles.append(text)
            if doc_id in judged_docs:
                texts.setdefault(doc_id, text)
            if len(ids) == CORPUS_CHUNK:
                corpus.add(ids, titles)
                ids, titles = [], []
        corpus.add(ids, titles)
    if unseen:
        raise DataError(
            f"{shown}/corpus.jsonl: no document has {', '.join(map(repr, sorted(unseen)))} "
            f"(data.text_fields {text_fields!r}); its keys are the fields to name"
        )
    _first_unknown(qrels, set(texts), "corpus-id", "corpus.jsonl (with a title or text)")
    threshold = graded_threshold or 1
    judged = pd.DataFrame(
        {
            "query": qrels["query-id"].map(queries),
            "doc_id": qrels["corpus-id"],
            "grade": qrels["score"],
            "relevant": qrels["score"] >= threshold,
        }
    )
    judgements = write_qrels(corpus_dir / QRELS, [judged])
    pairs = pd.DataFrame(
        {
            "query": judged["query"],
            "title": qrels["corpus-id"].map(texts),
            "label": qrels["score"],
            "split": qrels["split"],
        }
    )
    log.info(
        "BEIR %s: %d judgements of %d queries, %d documents in the corpus, splits %s",
        shown,
        len(pairs),
        len(queries),
        corpus.docs,
        dict(qrels.drop_duplicates("query-id")["split"].value_counts()),
    )
    corpus_info = {"corpus_docs": corpus.docs, "corpus_ids": "beir _id", "judgements": judgements}
    splits = sorted(set(qrels["split"]), key=list(QRELS_SPLITS.values()).index)
    return pairs, {"beir": {"splits": splits}, "corpus": corpus_info}
