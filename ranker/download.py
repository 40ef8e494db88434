"""The download stage: fetch pairs from the sample, a URL or a local path, then validate.

Nothing lands in the output directory until the bytes have passed the checksum and
validation; on any error the output directory is left absent.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from tqdm.auto import tqdm

from ranker.config import DataParams
from ranker.errors import DownloadError
from ranker.io import atomic_path, write_json
from ranker.sample import SAMPLE_NOTE, generate_sample
from ranker.validate import validate_pairs

log = logging.getLogger(__name__)

REFERENCE_URL = "https://thigm85.github.io/data/cord19/cord19-query-title-label.csv"
BACKOFF_S = 0.5


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def fetch_url(url: str, dest: Path, timeout_s: float, retries: int) -> None:
    """Stream `url` into `dest`, retrying connection errors, timeouts and 5xx with backoff."""
    last: str = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = BACKOFF_S * 2 ** (attempt - 1)
            log.warning("%s: %s; retry %d/%d in %.1fs", url, last, attempt, retries, delay)
            time.sleep(delay)
        try:
            with requests.get(url, stream=True, timeout=(timeout_s, timeout_s)) as resp:
                if 400 <= resp.status_code < 500:
                    raise DownloadError(f"{url}: HTTP {resp.status_code} {resp.reason}")
                if resp.status_code >= 500:
                    last = f"HTTP {resp.status_code} {resp.reason}"
                    continue
                total = int(resp.headers.get("content-length") or 0) or None
                with (
                    open(dest, "wb") as fh,
                    tqdm(total=total, unit="B", unit_scale=True, desc="download") as bar,
                ):
                    for chunk in resp.iter_content(chunk_size=1 << 16):
                        fh.write(chunk)
                        bar.update(len(chunk))
                if total is not None and dest.stat().st_size != total:
                    last = f"truncated: got {dest.stat().st_size} of {total} bytes"
                    continue
                return
        except requests.Timeout:
            last = f"timed out after {timeout_s}s"
        except requests.ConnectionError as exc:
            last = f"connection failed ({type(exc).__name__})"
        except requests.RequestException as exc:
            raise DownloadError(f"{url}: {exc}") from None
    raise DownloadError(f"{url}: {last} (gave up after {retries + 1} attempt(s))")


def fetch_source(params: DataParams, dest: Path) -> dict[str, Any]:
    """Materialize the source's bytes at `dest`; return a description of where they came from."""
    source = params.source
    if source == "sample":
        df = generate_sample(params.sample_pairs_per_query, params.sample_seed)
        df.to_csv(dest, index=False)
        return {"source": "sample", "synthetic": True, "note": SAMPLE_NOTE}
    if _is_url(source):
        fetch_url(source, dest, params.timeout_s, params.retries)
        return {"source": source, "synthetic": False}
    path = Path(source).expanduser()
    if not path.is_file():
        raise DownloadError(
            f"data.source: {source!r} is not 'sample', an http(s) URL, or an existing file"
        )
    with open(path, "rb") as src, open(dest, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    return {"source": str(path), "synthetic": False}


def run_download(params: DataParams, out_dir: Path, metrics_path: Path) -> dict[str, Any]:
    """Fetch, verify and validate; write `out_dir/pairs.csv`, `out_dir/meta.json`, and metrics."""
    fd, name = tempfile.mkstemp(prefix="ranker-download-", suffix=".csv")
    os.close(fd)
    tmp = Path(name)
    try:
        meta = fetch_source(params, tmp)
        raw = tmp.read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if params.sha256 and digest != params.sha256.lower():
            raise DownloadError(
                f"{params.source}: SHA-256 mismatch: expected {params.sha256.lower()}, got {digest}"
            )
        label = params.source if params.source != "sample" else "sample"
        df, report = validate_pairs(raw, label, params.graded_threshold)
    finally:
        tmp.unlink(missing_ok=True)

    summary = {
        "rows": len(df),
        "queries": int(df["query"].nunique()),
        "positive_rate": round(float(df["label"].mean()), 4),
        "duplicates_dropped": report.duplicates_dropped,
        "conflicting_pairs": report.conflicting_pairs,
    }
    meta.update(sha256=digest, graded_threshold=params.graded_threshold, **summary)
    with atomic_path(out_dir, is_dir=True) as tmp_dir:
        df.to_csv(tmp_dir / "pairs.csv", index=False)
        write_json(tmp_dir / "meta.json", meta)
    write_json(metrics_path, summary)
    log.info("wrote %d pairs over %d queries to %s", summary["rows"], summary["queries"], out_dir)
    return summary
