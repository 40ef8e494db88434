"""A document's text from its fields (`data.text_fields`): each field stripped, the
non-empty ones joined by a space. The first stage indexes that text and the model reads it
as the pair's second segment; the Vespa package joins its fields the same way
(ranker/vespa/package.py), so a document scores in Vespa as it scored here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd

TITLE = "title"
SEPARATOR = " "


def field_names(text_fields: str) -> tuple[str, ...]:
    return tuple(text_fields.split("+"))


def extra_fields(text_fields: str) -> tuple[str, ...]:
    """The fields beyond the pipeline's title column, read from the source by their names."""
    return tuple(f for f in field_names(text_fields) if f != TITLE)


def join_text(frame: pd.DataFrame, names: Iterable[str]) -> pd.Series:
    """The document text of each row of `frame` from its `names` columns."""
    parts = [frame[n].fillna("").astype(str).str.strip() for n in names]
    text = parts[0]
    for part in parts[1:]:
        both = (text != "") & (part != "")
        text = text.where(~both, text + SEPARATOR) + part
    return text


def joined(chunks: Iterable[pd.DataFrame], text_fields: str) -> Iterator[pd.DataFrame]:
    """Chunks whose title is the joined text of `text_fields`, the other fields dropped."""
    names, extras = field_names(text_fields), extra_fields(text_fields)
    for chunk in chunks:
        if extras:
            chunk = chunk.assign(title=join_text(chunk, names)).drop(columns=list(extras))
        yield chunk
