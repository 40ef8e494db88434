"""Download from real HTTP servers on 127.0.0.1 that each test starts and stops."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.errors import DownloadError

pytestmark = pytest.mark.network

BODY = b"query,title,label\nq1,relevant title,1\nq1,other title,0\nq2,third,0\nq2,fourth,1\n"


class Server:
    """A one-route server whose behaviour per request comes from `responder(attempt)`."""

    def __init__(self, responder: Callable[[int], tuple[int, bytes, float]]) -> None:
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.attempts += 1
                status, body, stall = responder(outer.attempts)
                if stall:
                    time.sleep(stall)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/pairs.csv"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def out(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    yield tmp_path / "data" / "raw", tmp_path / "metrics" / "data.json"


@pytest.fixture(autouse=True)
def quick_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short timeouts and two retries, as RANKER_DOWNLOAD_* set them for a user."""
    monkeypatch.setenv("RANKER_DOWNLOAD_TIMEOUT_S", "0.5")
    monkeypatch.setenv("RANKER_DOWNLOAD_RETRIES", "2")


def params(url: str, *, retries: int | None = None, **kw: object) -> DataParams:
    """DataParams for `url`; `retries` as a user sets it, in the environment (restored after
    the test by quick_downloads' monkeypatch, which saved the original value)."""
    if retries is not None:
        os.environ["RANKER_DOWNLOAD_RETRIES"] = str(retries)
    return DataParams(source=url, **kw)  # type: ignore[arg-type]


def test_success_with_checksum(out: tuple[Path, Path]) -> None:
    digest = hashlib.sha256(BODY).hexdigest()
    with Server(lambda n: (200, BODY, 0)) as srv:
        summary = run_download(params(srv.url, sha256=digest), *out)
    assert summary["rows"] == 4 and summary["queries"] == 2
    df = pd.read_csv(out[0] / "pairs.csv")
    assert df["label"].tolist() == [1, 0, 0, 1]
    assert out[1].is_file()


def test_checksum_mismatch_leaves_nothing(out: tuple[Path, Path]) -> None:
    with (
        Server(lambda n: (200, BODY, 0)) as srv,
        pytest.raises(DownloadError, match="SHA-256 mismatch"),
    ):
        run_download(params(srv.url, sha256="0" * 64), *out)
    assert not out[0].exists() and not out[1].exists()


def test_404_fails_without_retry(out: tuple[Path, Path]) -> None:
    with Server(lambda n: (404, b"no", 0)) as srv:
        with pytest.raises(DownloadError, match=r"HTTP 404"):
            run_download(params(srv.url), *out)
        assert srv.attempts == 1
    assert not out[0].exists()


def test_stalled_server_times_out(out: tuple[Path, Path]) -> None:
    with Server(lambda n: (200, BODY, 2.0)) as srv:
        start = time.monotonic()
        with pytest.raises(DownloadError, match=r"timed out after 0.5s \(gave up after 2 attempt"):
            run_download(params(srv.url, retries=1), *out)
        assert time.monotonic() - start < 10
    assert not out[0].exists()


def test_fails_twice_then_succeeds(
    out: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with Server(lambda n: (503, b"busy", 0) if n <= 2 else (200, BODY, 0)) as srv:
        summary = run_download(params(srv.url, retries=3), *out)
        assert srv.attempts == 3
    assert summary["rows"] == 4
    assert caplog.text.count("HTTP 503") == 2


def test_gives_up_after_retries(out: tuple[Path, Path]) -> None:
    with Server(lambda n: (500, b"err", 0)) as srv:
        with pytest.raises(DownloadError, match=r"HTTP 500 .*gave up after 3 attempt"):
            run_download(params(srv.url, retries=2), *out)
        assert srv.attempts == 3


def test_connection_refused(out: tuple[Path, Path]) -> None:
    with Server(lambda n: (200, BODY, 0)) as srv:
        url = srv.url
    with pytest.raises(DownloadError, match="connection failed"):
        run_download(params(url, retries=0), *out)


def test_local_path_and_missing_path(tmp_path: Path, out: tuple[Path, Path]) -> None:
    src = tmp_path / "pairs.csv"
    src.write_bytes(BODY)
    assert run_download(DataParams(source=str(src)), *out)["rows"] == 4
    with pytest.raises(DownloadError, match=r"is neither an http\(s\) URL nor an existing file"):
        run_download(DataParams(source=str(tmp_path / "nope.csv")), *out)
