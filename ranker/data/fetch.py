"""Bytes from a URL or a file, as every source arrives: streamed with a progress bar,
retried with backoff (truncated bodies too), UTF-8 and RANKER_DOWNLOAD_MAX_BYTES checked as
they arrive, a SHA-256 checked before anyone reads them; every failure one line."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import requests
from tqdm.auto import tqdm

from ranker.data.validate import Utf8Check
from ranker.errors import DownloadError
from ranker.files import create_exclusive, sha256_file
from ranker.settings import DownloadSettings, from_env

log = logging.getLogger(__name__)

BACKOFF_S = 0.5
CHUNK = 1 << 16


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


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


def file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            yield block


def fetch_file(location: str, sha256: str | None, scratch: Path, *, text: bool = True) -> Path:
    """A local, checksum-verified copy of one file of a multi-file source or an archive: a
    URL streams to `scratch` (with the same cap, retries and, for `text`, UTF-8 check as any
    source); a local path is read in place (hashed, not copied: CORD-19's metadata.csv is
    1.5 GB)."""
    if is_url(location):
        settings = dataclasses.asdict(from_env(DownloadSettings))
        fetch_url(location, scratch, **settings, text=text)
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
