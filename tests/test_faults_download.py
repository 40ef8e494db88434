"""Faults at the source: truncated, hostile and changed downloads, bad local files.

Each case: retried or refused in one line, bounded memory, nothing partial left.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.errors import DownloadError
from tests.conftest import ROOT, dvc, ran, run, set_param

PAIRS = (
    b"query,title,label\nq1,relevant title,1\nq1,other title,0\nq2,third,0\nq2,fourth,1\n"
    b"q3,fifth,1\nq3,sixth,0\n"
)


# --- hostile and broken HTTP sources ---------------------------------------------------


class Source:
    """An HTTP source on 127.0.0.1 whose body, ETag and misbehaviour a test sets."""

    def __init__(self) -> None:
        self.body: bytes | Iterator[bytes] = PAIRS
        self.length: int | None = None  # Content-Length to claim; None: the body's own
        self.etag = '"v1"'
        self.gets = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _headers(self) -> None:
                body = outer.body
                self.send_response(200)
                claimed = outer.length if outer.length is not None else len(body)  # type: ignore[arg-type]
                self.send_header("Content-Length", str(claimed))
                self.send_header("ETag", outer.etag)
                self.end_headers()

            def do_HEAD(self) -> None:
                self._headers()

            def do_GET(self) -> None:
                outer.gets += 1
                self._headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    chunks = [outer.body] if isinstance(outer.body, bytes) else outer.body
                    for chunk in chunks:
                        self.wfile.write(chunk)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pairs.csv"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def source() -> Iterator[Source]:
    server = Source()
    yield server
    server.close()


def test_truncated_body_is_retried_and_reported_in_one_line(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source.length = len(PAIRS) + 100
    monkeypatch.setenv("RANKER_DOWNLOAD_RETRIES", "2")
    monkeypatch.setenv("RANKER_DOWNLOAD_TIMEOUT_S", "5")
    with pytest.raises(DownloadError) as info:
        run_download(
            DataParams(source=source.url),
            tmp_path / "data/raw",
            tmp_path / "m.json",
        )
    message = str(info.value)
    assert source.gets == 3, "retried like a connection error"
    assert message == (
        f"{source.url}: truncated body: the connection closed before all of "
        f"{len(PAIRS) + 100} bytes arrived (gave up after 3 attempt(s))"
    )
    assert not (tmp_path / "data/raw").exists() and not list((tmp_path / "data").iterdir())


# Peak RSS from VmHWM: ru_maxrss would include the forking pytest process's own peak.
HOSTILE = """
import os, re, sys
from pathlib import Path
from ranker.config import DataParams
from ranker.data.download import run_download
url, cap, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
os.environ.update(RANKER_DOWNLOAD_MAX_BYTES=cap, RANKER_DOWNLOAD_RETRIES="0")
try:
    run_download(DataParams(source=url), out / "raw", out / "m.json")
except Exception as exc:
    print(type(exc).__name__, exc)
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())
print(int(hwm.group(1)) // 1024)
"""


@pytest.mark.parametrize(
    ("body", "cap", "error"),
    [
        # 150 MB of valid UTF-8 with no end in sight: stopped at the 20 MB cap.
        ("endless", 20 * 2**20, "DownloadError"),
        # 150 MB whose first bytes are not UTF-8: stopped at the first chunk.
        ("garbage", 2 * 2**30, "DataError"),
    ],
)
def test_hostile_body_is_stopped_in_bounded_memory(
    source: Source, tmp_path: Path, body: str, cap: int, error: str
) -> None:
    block = b"a" * (1 << 20) if body == "endless" else b"\xff" * (1 << 20)
    source.body = (block for _ in range(150))
    source.length = 150 * len(block)
    proc = run(
        [sys.executable, "-c", HOSTILE, source.url, str(cap), str(tmp_path)], cwd=ROOT, check=False
    )
    message, peak_mib = proc.stdout.strip().splitlines()
    assert message.startswith(error), message
    if body == "endless":
        assert "larger than RANKER_DOWNLOAD_MAX_BYTES (20971520 bytes)" in message
    else:
        assert "not UTF-8 text (byte 0xff at line 1)" in message
    # Importing pandas and torch-free ranker costs ~150 MiB; the body never sits in memory.
    assert int(peak_mib) < 400, f"peak RSS {peak_mib} MiB"
    assert not (tmp_path / "raw").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "no scratch file left"


# --- stale sources: a changed file or URL body is noticed by dvc repro -------------------


def test_changed_local_csv_and_url_body_are_noticed(
    pipeline_repo: Path, tmp_path: Path, source: Source
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    csv = tmp_path / "pairs.csv"
    csv.write_bytes(PAIRS)
    set_param(repo, "data", "source", str(csv))
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}
    assert ran(dvc("repro", "split", cwd=repo)) == set()
    csv.write_bytes(PAIRS + b"q3,a new judgement,1\nq3,another,0\n")
    assert "download" in json.loads(
        dvc("status", "--json", "--with-deps", "split", cwd=repo).stdout
    )
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}

    source.body = PAIRS + b"q5,served over http,1\nq5,also served,0\n"
    set_param(repo, "data", "source", source.url)
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}
    # Same bytes under a new ETag: download reruns, its output is unchanged, split does not.
    source.etag = '"v2"'
    assert ran(dvc("repro", "split", cwd=repo)) == {"download"}
    source.body, source.etag = PAIRS + b"q3,changed upstream,1\nq3,x,0\n", '"v3"'
    assert "download" in json.loads(
        dvc("status", "--json", "--with-deps", "split", cwd=repo).stdout
    )
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}
