"""The download stage: pairs from a URL, a local CSV, TREC-COVID's official files (a spec
YAML) or the synthetic sample (a topics YAML), validated; and the corpus the first stage
searches with its judgements (ranker/data/corpus.py).

Nothing lands in the output directory until the bytes have passed the checksum and
validation; on any error the output directory is left absent.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import requests
from tqdm.auto import tqdm

from ranker.config import DataParams
from ranker.data.beir import build_from_beir, is_beir
from ranker.data.corpus import corpus_from_pairs
from ranker.data.formats import SAME_NAMES, Columns, source_format
from ranker.data.pairs import read_pairs_chunks
from ranker.data.sample import SAMPLE_NOTE, generate_sample, load_topics
from ranker.data.trec import build_from_spec, load_spec
from ranker.data.validate import Utf8Check, validate_file
from ranker.errors import DownloadError
from ranker.files import atomic_path, create_exclusive, sha256_file, write_json
from ranker.settings import DownloadSettings, from_env

log = logging.getLogger(__name__)

BACKOFF_S = 0.5
CHUNK = 1 << 16
# A local source with one of these suffixes is a topics file for the synthetic sample.
TOPICS_SUFFIXES = (".yaml", ".yml")
# What a source with a corpus of its own reports about it (and a pairs file's corpus, made
# from its titles, reports the same way).
CORPUS_KEYS = ("corpus_docs", "corpus_ids", "judgements")


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def scratch_path(out_dir: Path) -> Path:
    """Where the fetched bytes wait for validation: beside `out_dir`, ignored by git and
    DVC, and a fixed name, so a killed run's leftover is replaced by the next run."""
    return out_dir.parent / f".{out_dir.name}.download"


def stream_to(
    chunks: Iterable[bytes],
    dest: Path,
    *,
    name: str,
    max_bytes: int,
    total: int | None = None,
    text: bool = True,
) -> int:
    """Write `chunks` to `dest`, checking UTF-8 (a `text` source: all but Parquet) and the
    size cap as they arrive.

    Memory stays at one chunk whatever the source sends; a non-UTF-8 or oversized body
    stops at its first bad byte or at the cap, not after it has all arrived.
    """
    check = Utf8Check(name) if text else None
    size = 0
    with (
        create_exclusive(dest) as fh,
        tqdm(total=total, unit="B", unit_scale=True, desc="download") as bar,
    ):
        for chunk in chunks:
            size += len(chunk)
            if size > max_bytes:
                raise DownloadError(
                    f"{name}: larger than RANKER_DOWNLOAD_MAX_BYTES ({max_bytes} bytes); "
                    "raise it if this file is expected"
                )
            if check:
                check.feed(chunk)
            fh.write(chunk)
            bar.update(len(chunk))
    if check:
        check.feed(b"", final=True)
    return size


def fetch_url(
    url: str,
    dest: Path,
    *,
    timeout_s: float,
    retries: int,
    max_bytes: int,
    text: bool = True,
) -> None:
    """Stream `url` into `dest`, retrying connection errors, timeouts, truncated bodies and
    5xx with backoff; every failure is one line."""
    last: str = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = BACKOFF_S * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1fs", url, last, attempt, retries, delay)
            time.sleep(delay)
        total = None
        try:
            with requests.get(url, stream=True, timeout=(timeout_s, timeout_s)) as resp:
                if 400 <= resp.status_code < 500:
                    raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
                if resp.status_code >= 500:
                    last = f"HTTP {resp.status_code} {resp.reason}"
                    continue
                total = int(resp.headers.get("content-length") or 0) or None
                if total is not None and total > max_bytes:
                    raise DownloadError(
                        f"{url}: Content-Length {total} is larger than RANKER_DOWNLOAD_MAX_BYTES "
                        f"({max_bytes} bytes); raise it if this file is expected"
                    )
                chunks = resp.iter_content(chunk_size=CHUNK)
                size = stream_to(
                    chunks, dest, name=url, max_bytes=max_bytes, total=total, text=text
                )
                if total is not None and size != total:
                    last = f"truncated body: got {size} of {total} bytes"
                    continue
                return
        except requests.Timeout:
            last = f"timed out after {timeout_s}s"
        except requests.exceptions.ChunkedEncodingError:
            # urllib3 reports a body shorter than its Content-Length this way.
            expected = f" of {total} bytes" if total else ""
            last = f"truncated body: the connection closed before all{expected} arrived"
        except requests.ConnectionError as exc:
            last = f"connection failed ({type(exc).__name__})"
        except requests.RequestException as exc:
            raise DownloadError(f"{url}: {type(exc).__name__}: {exc}".split("\n")[0]) from None
    raise DownloadError(f"{url}: {last} (gave up after {retries + 1} attempt(s))")


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            yield block


def _fetch_file(location: str, sha256: str | None, scratch: Path, params: DataParams) -> Path:
    """A local, checksum-verified copy of one file of a multi-file source: a URL streams to
    `scratch` (with the same cap, retries and UTF-8 check as any source); a local path is
    read in place (hashed, not copied: CORD-19's metadata.csv is 1.5 GB)."""
    if _is_url(location):
        fetch_url(location, scratch, **dataclasses.asdict(from_env(DownloadSettings)))
        path = scratch
    else:
        path = Path(location).expanduser()
        if not path.is_file():
            raise DownloadError(f"{location}: no such file (a path is relative to the project)")
    if sha256 is not None:
        digest = sha256_file(path)
        if digest != sha256.lower():
            raise DownloadError(
                f"{location}: SHA-256 mismatch: expected {sha256.lower()}, got {digest}"
            )
    return path


def fetch_source(params: DataParams, dest: Path, corpus_dir: Path) -> dict[str, Any]:
    """Materialize the source's bytes at `dest`; return a description of where they came from.
    A source that has a corpus of its own (TREC-COVID's metadata.csv) writes it, and its
    qrels, to `corpus_dir`, and its description then holds CORPUS_KEYS.

    The description holds `data.source` as written, never a resolved path: the same params
    give the same `meta.json` on every machine.
    """
    source = params.source
    text = source_format(source, params.format) != "parquet"
    if _is_url(source):
        settings = dataclasses.asdict(from_env(DownloadSettings))
        fetch_url(source, dest, **settings, text=text)
        return {"source": source, "synthetic": False}
    path = Path(source).expanduser()
    if is_beir(path):
        pairs, info = build_from_beir(
            path, corpus_dir=corpus_dir, graded_threshold=params.graded_threshold
        )
        pairs.to_csv(dest, index=False)
        return {"source": source, "synthetic": False, **info.pop("corpus"), **info}
    if not path.is_file():
        raise DownloadError(
            f"data.source: {source!r} is neither an http(s) URL nor an existing file or BEIR "
            "folder (a pairs file, or a topics YAML for the synthetic sample)"
        )
    if path.suffix in TOPICS_SUFFIXES and (spec := load_spec(path)) is not None:
        if params.graded_threshold is None:
            raise DownloadError(
                f"data.graded_threshold: {source} is TREC-COVID, judged 0/1/2; set it to 1 "
                "(partially relevant counts as relevant) or 2"
            )
        pairs, info = build_from_spec(
            spec,
            query_field=params.query_field,
            graded_threshold=params.graded_threshold,
            fetch=lambda location, sha256, name: _fetch_file(
                location, sha256, dest.with_name(f"{dest.stem}-{name}.download"), params
            ),
            corpus_dir=corpus_dir,
        )
        pairs.to_csv(dest, index=False)
        corpus = info.pop("corpus")
        return {"source": source, "synthetic": False, "trec_covid": {**spec, **info}, **corpus}
    if path.suffix in TOPICS_SUFFIXES:
        topics = load_topics(path)
        df = generate_sample(params.sample_pairs_per_query, params.sample_seed, topics)
        df.to_csv(dest, index=False)
        return {"source": source, "synthetic": True, "note": SAMPLE_NOTE}
    cap = from_env(DownloadSettings).max_bytes
    stream_to(_file_chunks(path), dest, name=source, max_bytes=cap, text=text)
    return {"source": source, "synthetic": False}


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
            digest = sha256_file(scratch)
            if params.sha256 and digest != params.sha256.lower():
                raise DownloadError(
                    f"{params.source}: SHA-256 mismatch: expected {params.sha256.lower()}, "
                    f"got {digest}"
                )
            pairs = tmp_dir / "pairs.csv"
            # TREC-COVID and the sample arrive as the project's own CSV; a pairs source
            # comes in its own format and column names.
            own = not (meta.get("trec_covid") or meta.get("beir") or meta["synthetic"])
            fmt = source_format(params.source, params.format) if own else "csv"
            report = validate_file(
                scratch,
                pairs,
                params.source,
                params.graded_threshold,
                columns=Columns(params.columns) if own else SAME_NAMES,
                max_grade=params.max_grade,
                fmt=fmt,
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
            write_json(tmp_dir / "meta.json", meta)
    finally:
        scratch.unlink(missing_ok=True)
        for leftover in scratch.parent.glob(f"{scratch.stem}-*.download"):
            leftover.unlink()
    write_json(metrics_path, summary)
    log.info("wrote %d pairs over %d queries to %s", summary["rows"], summary["queries"], out_dir)
    return summary
