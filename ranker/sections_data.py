"""The params sections of the data stages (download, split, cross-validation), apart from
ranker/sections.py's model and evaluation ones; declared the same way (`param()`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ranker.errors import ParamError
from ranker.schema import param


@dataclass(frozen=True)
class DataParams:
    """Where the relevance data comes from (the download stage)."""

    source: str = param(
        "ranker/data/sample_topics.yaml",
        """A pairs file (CSV, TSV, JSON Lines or Parquet; http(s) URL or local path), a BEIR
        dataset (a folder of corpus.jsonl, queries.jsonl and qrels/, or its .zip, URL or
        path), a TREC spec YAML (the locations of topics, qrels and a document collection;
        ranker/data/trec_covid.yaml is TREC-COVID's), or a topics YAML from which the
        synthetic sample is generated offline (the default ships with the package). A
        dependency of download in dvc.yaml, so a changed file or URL body reruns it.""",
    )
    sha256: str | None = param(
        None,
        """Expected SHA-256 of the fetched file (a pairs file, a BEIR archive), checked
        before anything lands in data/. A TREC spec pins each of its files instead.""",
    )
    query_field: str = param(
        "query",
        """TREC spec sources with XML or SGML topics: the topic field that becomes the query
        (TREC-COVID's `query` or `question`, Robust04's `title` or `desc`), or fields
        joined by `+` (`title+desc`); `both` is `query+question`.""",
    )
    text_fields: str = param(
        "title",
        """The document's fields the model and the first stage read, joined by `+` and, in
        the document's text, by a space: `title`, or e.g. `title+abstract` (TREC-COVID's
        metadata.csv, the synthetic sample) or `title+text` (a BEIR corpus). `title` is the
        pipeline's title column (mapped by data.columns or a TREC spec's collection.columns;
        a BEIR document's text where its title is empty) and must be one of them; every
        other name is a column (or a BEIR corpus key) of the source as it is named there,
        and may be empty in a row.
        The Vespa package's schema gets each field, its first phase and its token inputs
        their join.""",
    )
    format: Literal["auto", "csv", "tsv", "jsonl", "parquet", "beir"] = param(
        "auto",
        """How the source is read: `auto` by its extension (.csv; .tsv or .tab, unquoted;
        .jsonl or .ndjson, one object a line; .parquet or .pq; .zip a BEIR archive; a folder
        BEIR's layout; anything else CSV); `beir` for an archive at a URL without .zip.""",
    )
    columns: Mapping[str, str] | None = param(
        None,
        """The source's names for the pipeline's columns, e.g. `{query: question, title:
        passage, label: relevance}`; unnamed ones keep theirs. Errors name both.""",
    )
    graded_threshold: int | None = param(
        None,
        """null: labels must be binary 0/1. An int t: labels are integer grades 0 to
        `max_grade` (TREC-COVID's qrels 0/1/2, TREC DL's 0-3, ...) and a pair is relevant
        when its grade is >= t; ranking metrics gain by the grades.""",
        min=1,
        max=1000,
    )
    max_grade: int | None = param(
        None,
        """The top of a graded scale (with `graded_threshold`): a grade above it fails the
        download naming its line. null: the highest grade in the data, recorded in
        metrics/data.json.""",
        min=1,
        max=1000,
    )
    sample_pairs_per_query: int = param(
        66, "Pairs per query in the synthetic sample (50 queries).", min=10, max=1000
    )
    sample_seed: int = param(0, "Seed of the synthetic sample.")

    def __post_init__(self) -> None:
        fields = self.query_field.split("+")
        if not all(re.fullmatch(r"[A-Za-z_][\w.-]*", f) for f in fields):
            raise ParamError(
                f"data.query_field: {self.query_field!r} is not a topic field name or names "
                "joined by + (e.g. query, title+desc)"
            )
        names = self.text_fields.split("+")
        if not all(re.fullmatch(r"[A-Za-z_][\w.-]*", f) for f in names) or len(set(names)) < len(
            names
        ):
            raise ParamError(
                f"data.text_fields: {self.text_fields!r} is not distinct field names joined by "
                "+ (e.g. title, title+abstract)"
            )
        if "title" not in names:
            raise ParamError(
                f"data.text_fields: {self.text_fields!r} lacks title, the pipeline's document "
                "column (data.columns maps yours to it); e.g. title+abstract"
            )
        if self.sha256 is not None:
            digest = self.sha256.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ParamError(f"data.sha256: {self.sha256!r} is not a 64-hex-digit SHA-256")
        if self.columns is not None:
            unknown = sorted(set(self.columns) - {"query", "title", "label"})
            if unknown:
                raise ParamError(
                    f"data.columns: {', '.join(map(repr, unknown))} is not a pipeline column; "
                    "map query, title or label to your file's names"
                )
            names = list(self.columns.values())
            if len(set(names)) < len(names):
                raise ParamError(f"data.columns: {self.columns} maps two columns to one name")
        if self.max_grade is not None:
            if self.graded_threshold is None:
                raise ParamError("data.max_grade needs data.graded_threshold (graded labels)")
            if self.graded_threshold > self.max_grade:
                raise ParamError(
                    f"data.graded_threshold: {self.graded_threshold} must be <= data.max_grade "
                    f"{self.max_grade}"
                )


@dataclass(frozen=True)
class SplitParams:
    """How pairs are split into train, validation and test (the split stage)."""

    strategy: Literal["query", "random", "given"] = param(
        "query",
        """`query`: every query's pairs in one split only (no leakage) | `random`: row-level,
        as the reference recipe | `given`: the source's own split of its queries (a BEIR
        folder's qrels/train.tsv, dev.tsv as validation, test.tsv); `make cv` makes its own
        folds either way.""",
    )
    valid_size: float = param(
        0.2,
        """Share of the queries (rows, for random) held out for validation: it picks the best
        epoch and gates the int8 model.""",
        min=0.01,
        max=0.98,
        open=True,
    )
    test_size: float = param(
        0.2,
        """Share held out for test: the reported numbers, never seen by training or
        selection.""",
        min=0.01,
        max=0.98,
        open=True,
    )
    seed: int = param(42, "Seed of the query (or row) assignment to splits.")
    stratify: bool = param(
        False, "Only with strategy `random`: keep the positive rate equal in all splits."
    )


@dataclass(frozen=True)
class CvParams:
    """K-fold cross-validation over queries (`make cv`, the DVC project in cv/)."""

    folds: tuple[int, ...] = param(
        (0, 1, 2, 3, 4),
        """The fold ids 0..K-1. A list, not a count: DVC's foreach generates one stage per
        entry.""",
    )
    seed: int = param(
        0, "Seed of the query-to-fold assignment (the inner validation split uses split.seed)."
    )

    def __post_init__(self) -> None:
        if list(self.folds) != list(range(len(self.folds))) or len(self.folds) < 2:
            raise ParamError(
                f"cv.folds: {list(self.folds)!r} must be the fold ids 0..K-1 with K >= 2 "
                "(e.g. [0, 1, 2, 3, 4] for 5 folds)"
            )
