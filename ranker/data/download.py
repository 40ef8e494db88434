"""The download stage: pairs from a pairs file (a URL or a path; CSV, TSV, JSON Lines or
Parquet), a BEIR folder or archive, a TREC collection (a spec YAML) or the synthetic sample
(a topics YAML), validated; and the corpus the first stage searches with its judgements
(ranker/data/corpus.py).

Nothing lands in the output directory until the bytes have passed the checksum and
validation; on any error the output directory is left absent.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ranker.config import DataParams
from ranker.data.archive import extract_beir, is_archive, remove
from ranker.data.beir import build_from_beir, is_beir
from ranker.data.corpus import corpus_from_pairs
from ranker.data.fetch import fetch_file, fetch_url, file_chunks, is_url, stream_to
from ranker.data.fields import TITLE, extra_fields, joined
from ranker.data.formats import SAME_NAMES, Columns, source_format
from ranker.data.pairs import REQUIRED, read_pairs_chunks
from ranker.data.sample import ABSTRACT, SAMPLE_NOTE, generate_sample, load_topics
from ranker.data.trec import build_from_spec, load_spec
from ranker.data.validate import validate_file
from ranker.errors import DownloadError
from ranker.files import atomic_path, sha256_file, write_json
from ranker.settings import DownloadSettings, from_env

log = logging.getLogger(__name__)

# A local source with one of these suffixes is a topics file for the synthetic sample.
TOPICS_SUFFIXES = (".yaml", ".yml")
# What a source with a corpus of its own reports about it (and a pairs file's corpus, made
# from its titles, reports the same way).
CORPUS_KEYS = ("corpus_docs", "corpus_ids", "judgements")


def scratch_path(out_dir: Path) -> Path:
    """Where the fetched bytes wait for validation: beside `out_dir`, ignored by git and
    DVC, and a fixed name, so a killed run's leftover is replaced by the next run."""
    return out_dir.parent / f".{out_dir.name}.download"


def _beir_archive(params: DataParams, dest: Path, corpus_dir: Path) -> dict[str, Any]:
    """A zipped BEIR folder: fetched (or read in place), checked against `data.sha256`,
    BEIR's files taken out beside `dest`, joined, and the extracted copy removed."""
    archive = fetch_file(
        params.source, params.sha256, dest.with_name(f"{dest.stem}-archive.download"), text=False
    )
    folder = dest.with_name(f"{dest.stem}-beir.extract")
    remove(folder)  # a killed run's leftover
    try:
        cap = from_env(DownloadSettings).max_bytes
        extract_beir(archive, folder, name=params.source, max_bytes=cap)
        pairs, info = build_from_beir(
            folder,
            corpus_dir=corpus_dir,
            graded_threshold=params.graded_threshold,
            shown=params.source,
            text_fields=params.text_fields,
        )
    finally:
        remove(folder)
    pairs.to_csv(dest, index=False)
    digest = sha256_file(archive)
    return {
        "source": params.source,
        "synthetic": False,
        "sha256": digest,
        **info.pop("corpus"),
        **info,
    }


def fetch_source(params: DataParams, dest: Path, corpus_dir: Path) -> dict[str, Any]:
    """Materialize the source's bytes at `dest`; return a description of where they came from.
    A source that has a corpus of its own (a TREC collection, a BEIR folder) writes it, and
    its qrels, to `corpus_dir`, and its description then holds CORPUS_KEYS; one whose
    `data.sha256` is not of `dest` (an archive) checks it and holds `sha256`.

    The description holds `data.source` as written, never a resolved path: the same params
    give the same `meta.json` on every machine.
    """
    source = params.source
    fmt = source_format(source, params.format)
    if is_archive(source) or (fmt == "beir" and not Path(source).expanduser().is_dir()):
        return _beir_archive(params, dest, corpus_dir)
    if is_url(source):
        settings = dataclasses.asdict(from_env(DownloadSettings))
        fetch_url(source, dest, **settings, text=fmt != "parquet")
        return {"source": source, "synthetic": False}
    path = Path(source).expanduser()
    if is_beir(path):
        _no_single_file(params, "a BEIR folder has several files; pin its archive instead")
        pairs, info = build_from_beir(
            path,
            corpus_dir=corpus_dir,
            graded_threshold=params.graded_threshold,
            text_fields=params.text_fields,
        )
        pairs.to_csv(dest, index=False)
        return {"source": source, "synthetic": False, **info.pop("corpus"), **info}
    if not path.is_file():
        raise DownloadError(
            f"data.source: {source!r} is neither an http(s) URL nor an existing file or BEIR "
            "folder (a pairs file, or a topics YAML for the synthetic sample)"
        )
    if path.suffix in TOPICS_SUFFIXES and (spec := load_spec(path)) is not None:
        _no_single_file(params, "a TREC spec has three files; give each its sha256 in the spec")
        if params.graded_threshold is None:
            raise DownloadError(
                f"data.graded_threshold: {source} is a TREC collection, judged in grades; set "
                "the lowest grade that counts as relevant (TREC-COVID: 1, partially relevant, "
                "or 2)"
            )
        pairs, info = build_from_spec(
            spec,
            query_field=params.query_field,
            graded_threshold=params.graded_threshold,
            max_grade=params.max_grade,
            fetch=lambda location, sha256, name: fetch_file(
                location, sha256, dest.with_name(f"{dest.stem}-{name}.download")
            ),
            corpus_dir=corpus_dir,
            text_fields=params.text_fields,
        )
        pairs.to_csv(dest, index=False)
        corpus = info.pop("corpus")
        return {"source": source, "synthetic": False, "trec": {**spec, **info}, **corpus}
    if path.suffix in TOPICS_SUFFIXES:
        topics = load_topics(path)
        extras = extra_fields(params.text_fields)
        if set(extras) - {ABSTRACT}:
            raise DownloadError(
                f"data.text_fields: {params.text_fields!r}, but the synthetic sample's "
                f"documents have a title and an {ABSTRACT} only"
            )
        df = generate_sample(
            params.sample_pairs_per_query, params.sample_seed, topics, abstracts=bool(extras)
        )
        next(joined([df], params.text_fields)).to_csv(dest, index=False)
        return {"source": source, "synthetic": True, "note": SAMPLE_NOTE}
    cap = from_env(DownloadSettings).max_bytes
    stream_to(file_chunks(path), dest, name=source, max_bytes=cap, text=fmt != "parquet")
    return {"source": source, "synthetic": False}


def _no_single_file(params: DataParams, why: str) -> None:
    if params.sha256 is not None:
        raise DownloadError(
            f"data.sha256 pins a single file, and {params.source} is not one: {why}"
        )


def _summary(pairs: Path) -> dict[str, Any]:
    rows = positives = 0
    queries: set[str] = set()
    for chunk in read_pairs_chunks(pairs, columns=["query", "label"]):
        rows += len(chunk)
        positives += int(chunk["label"].sum())
        queries.update(chunk["query"].unique())
    return {"rows": rows, "queries": len(queries), "positive_rate": round(positives / rows, 4)}


def run_download(params: DataParams, out_dir: Path, metrics_path: Path) -> dict[str, Any]:
    """Fetch, verify and validate; write `out_dir/pairs.csv`, `corpus.parquet`,
    `qrels.parquet`, `meta.json`, and metrics.

    Every step streams: the source to a scratch file, then validation chunk by chunk into
    the clean pairs file."""
    from_env(DownloadSettings)  # a bad RANKER_DOWNLOAD_* fails before anything is fetched
    scratch = scratch_path(out_dir)
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.unlink(missing_ok=True)
    try:
        with atomic_path(out_dir, is_dir=True) as tmp_dir:
            meta = fetch_source(params, scratch, tmp_dir)
            checked = "sha256" in meta
            digest = meta.pop("sha256", None) or sha256_file(scratch)
            if params.sha256 and not checked and digest != params.sha256.lower():
                raise DownloadError(
                    f"{params.source}: SHA-256 mismatch: expected {params.sha256.lower()}, "
                    f"got {digest}"
                )
            pairs = tmp_dir / "pairs.csv"
            # A TREC collection, a BEIR dataset and the sample arrive as the project's own
            # CSV; a pairs source comes in its own format and column names.
            own = not (meta.get("trec") or meta.get("beir") or meta["synthetic"])
            fmt = source_format(params.source, params.format) if own else "csv"
            report = validate_file(
                scratch,
                pairs,
                params.source,
                params.graded_threshold,
                columns=(
                    Columns(params.columns, required=(*REQUIRED, *extra_fields(params.text_fields)))
                    if own
                    else SAME_NAMES
                ),
                max_grade=params.max_grade,
                fmt=fmt,
                # The other sources join their fields as they build the pairs.
                text_fields=params.text_fields if own else TITLE,
            )
            corpus = {key: meta.pop(key) for key in CORPUS_KEYS if key in meta}
            summary = {
                **_summary(pairs),
                "duplicates_dropped": report.duplicates_dropped,
                "conflicting_pairs": report.conflicting_pairs,
                **(corpus or corpus_from_pairs(pairs, tmp_dir)),
            }
            if report.max_grade is not None:
                summary["max_grade"] = report.max_grade
            meta.update(
                sha256=digest, format=fmt, graded_threshold=params.graded_threshold, **summary
            )
            if params.text_fields != TITLE:  # absent for titles: earlier meta.json unchanged
                meta["text_fields"] = params.text_fields
            write_json(tmp_dir / "meta.json", meta)
    finally:
        scratch.unlink(missing_ok=True)
        for leftover in scratch.parent.glob(f"{scratch.stem}-*.download"):
            leftover.unlink()
        for leftover in scratch.parent.glob(f"{scratch.stem}-*.extract"):
            remove(leftover)
    write_json(metrics_path, summary)
    log.info("wrote %d pairs over %d queries to %s", summary["rows"], summary["queries"], out_dir)
    return summary
