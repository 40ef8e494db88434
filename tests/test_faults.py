"""The fault matrix: each case a hostile but fair user tried, with the behaviour it must have.

Exit status, the one-line message, nothing partial left, previous outputs recoverable.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from ranker.config import DataParams
from ranker.download import run_download
from ranker.errors import DataError, DownloadError
from ranker.io import atomic_path
from tests.conftest import ROOT, dvc, git, run, tool_env
from tests.test_rerank_cli import TITLES, cli

PAIRS = b"query,title,label\nq1,relevant title,1\nq1,other title,0\nq2,third,0\nq2,fourth,1\n"


# --- ranker-rerank: options, input, damaged models -------------------------------------


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--batch-size", "-1"], "argument --batch-size: must be >= 1, got -1"),
        (["--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
        (["--top", "-1"], "argument --top: must be >= 1, got -1"),
        (["--top", "0"], "argument --top: must be >= 1, got 0"),
        (["--threads", "-2"], "argument --threads: must be >= 0, got -2"),
        (["--batch-size", "x"], "argument --batch-size: 'x' is not an integer"),
    ],
)
def test_cli_refuses_bad_options_in_one_line(
    onnx_dir: Path, option: list[str], message: str
) -> None:
    proc = cli("-m", str(onnx_dir), "-q", "coronavirus origin", *option, *TITLES)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {message} (see --help)"
    assert proc.stdout == "", "no score is printed"


def test_scores_are_never_read_from_uninitialised_memory(onnx_dir: Path) -> None:
    from ranker.rerank import Reranker, RerankError

    ranker = Reranker(onnx_dir)
    with pytest.raises(RerankError, match="batch size must be >= 1"):
        ranker.scores("q", TITLES, batch_size=0)
    # Batch sizes that do and do not divide the titles give the same scores.
    a, b = ranker.scores("q", TITLES, batch_size=1), ranker.scores("q", TITLES, batch_size=2)
    assert a.tolist() == pytest.approx(b.tolist(), abs=1e-5)


@pytest.mark.parametrize("how", ["stdin", "-f -", "file"])
def test_non_utf8_titles_are_one_line(onnx_dir: Path, tmp_path: Path, how: str) -> None:
    data = "café\n".encode("latin-1")
    if how == "file":
        path = tmp_path / "titles.txt"
        path.write_bytes(data)
        args, stdin, name = ["-f", str(path)], None, str(path)
    else:
        args, stdin, name = (["-f", "-"] if how == "-f -" else []), data, "stdin"
    proc = subprocess.run(
        [sys.executable, "-m", "ranker.rerank", "-m", str(onnx_dir), "-q", "covid", *args],
        input=stdin or b"",
        capture_output=True,
        env=tool_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == f"error: {name}: not UTF-8 text (byte 0xe9 at line 1)"


def flip_bytes(path: Path, every: int = 1 << 20) -> None:
    """Bit rot: 4 bytes flipped every ~1 MB in the second half of the file."""
    data = bytearray(path.read_bytes())
    for pos in range(len(data) // 2, len(data) - 4, min(every, max(len(data) // 8, 8))):
        data[pos : pos + 4] = bytes(b ^ 0xFF for b in data[pos : pos + 4])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["model.onnx", "model.int8.onnx", "tokenizer.json"])
def test_damaged_model_files_are_refused(onnx_dir: Path, tmp_path: Path, name: str) -> None:
    copy = tmp_path / "onnx"
    shutil.copytree(onnx_dir, copy)
    flip_bytes(copy / name)
    args = ["--int8"] if name == "model.int8.onnx" else []
    proc = cli("-m", str(copy), "-q", "coronavirus origin", *args, *TITLES)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == (
        f"error: {copy / name}: SHA-256 does not match ranker.json (damaged or replaced file); "
        "fetch it again with `make pull-onnx`"
    )


def test_model_without_manifest_is_refused(onnx_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "onnx"
    shutil.copytree(onnx_dir, copy)
    (copy / "ranker.json").unlink()
    proc = cli("-m", str(copy), "-q", "covid", *TITLES)
    assert proc.returncode == 1 and "ranker.json: no manifest beside the model" in proc.stderr


# --- DVC cache and workspace corruption ------------------------------------------------


def test_verify_catches_what_dvc_checkout_does_not(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (model_out,) = [o for o in lock["stages"]["train"]["outs"] if o["path"] == "models/model"]
    listing = repo / ".dvc/cache/files/md5" / model_out["md5"][:2] / model_out["md5"][2:]
    (entry,) = [e for e in json.loads(listing.read_text()) if e["relpath"] == "model.safetensors"]
    cached = repo / ".dvc/cache/files/md5" / entry["md5"][:2] / entry["md5"][2:]
    good = cached.read_bytes()
    os.chmod(cached, 0o644)
    flip_bytes(cached)
    workspace = repo / "models/model/model.safetensors"
    workspace.unlink()

    # DVC 3.67 checks out the corrupt object without noticing.
    assert dvc("checkout", cwd=repo).returncode == 0
    assert workspace.read_bytes() != good

    def verify() -> subprocess.CompletedProcess:
        return run(["make", "-s", "-f", str(ROOT / "Makefile"), "verify"], cwd=repo, check=False)

    proc = verify()
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert lines == [
        f"error: models/model/model.safetensors: workspace file has md5 "
        f"{_md5(workspace)}, dvc.lock expects {entry['md5']}",
        f"error: models/model/model.safetensors: cache object "
        f"{cached.relative_to(repo)} is corrupt (md5 {_md5(cached)}, expected {entry['md5']})",
    ]
    # The good object back in the cache: DVC's status is clean, the workspace is not.
    cached.write_bytes(good)
    assert json.loads(dvc("status", "--json", cwd=repo).stdout) == {}
    proc = verify()
    assert proc.returncode != 0 and "workspace file has md5" in proc.stderr
    assert "cache object" not in proc.stderr
    # The remedy README gives: remove the file and check it out again.
    workspace.unlink()
    dvc("checkout", cwd=repo)
    proc = verify()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("verified ")


def _md5(path: Path) -> str:
    from ranker.verify import md5_file

    return md5_file(path)


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


def test_truncated_body_is_retried_and_reported_in_one_line(source: Source, tmp_path: Path) -> None:
    source.length = len(PAIRS) + 100
    with pytest.raises(DownloadError) as info:
        run_download(
            DataParams(source=source.url, retries=2, timeout_s=5),
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
import re, sys
from pathlib import Path
from ranker.config import DataParams
from ranker.download import run_download
url, cap, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
try:
    run_download(DataParams(source=url, max_bytes=cap, retries=0), out / "raw", out / "m.json")
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
        assert "larger than data.max_bytes (20971520 bytes)" in message
    else:
        assert "not UTF-8 text (byte 0xff at line 1)" in message
    # Importing pandas and torch-free ranker costs ~150 MiB; the body never sits in memory.
    assert int(peak_mib) < 400, f"peak RSS {peak_mib} MiB"
    assert not (tmp_path / "raw").exists()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "no scratch file left"


# --- stale sources: a changed file or URL body is noticed by dvc repro -------------------


def ran(proc: subprocess.CompletedProcess) -> set[str]:
    import re

    return set(re.findall(r"Running stage '([^']+)'", proc.stdout))


def set_source(repo: Path, value: str) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"]["source"] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_changed_local_csv_and_url_body_are_noticed(
    pipeline_repo: Path, tmp_path: Path, source: Source
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    csv = tmp_path / "pairs.csv"
    csv.write_bytes(PAIRS)
    set_source(repo, str(csv))
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}
    assert ran(dvc("repro", "split", cwd=repo)) == set()
    csv.write_bytes(PAIRS + b"q3,a new judgement,1\nq3,another,0\n")
    assert "download" in json.loads(
        dvc("status", "--json", "--with-deps", "split", cwd=repo).stdout
    )
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}

    source.body = PAIRS + b"q5,served over http,1\nq5,also served,0\n"
    set_source(repo, source.url)
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}
    # Same bytes under a new ETag: download reruns, its output is unchanged, split does not.
    source.etag = '"v2"'
    assert ran(dvc("repro", "split", cwd=repo)) == {"download"}
    source.body, source.etag = PAIRS + b"q3,changed upstream,1\nq3,x,0\n", '"v3"'
    assert "download" in json.loads(
        dvc("status", "--json", "--with-deps", "split", cwd=repo).stdout
    )
    assert ran(dvc("repro", "split", cwd=repo)) == {"download", "split"}


# --- kills and leftovers -----------------------------------------------------------------


def test_a_killed_writers_leftover_is_ignored_and_removed_next_time(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "onnx"
    leftover = dest.with_name(".onnx.tmp")
    leftover.mkdir(parents=True)
    (leftover / "model.onnx").write_bytes(b"half a model")
    git("init", "-q", cwd=tmp_path)
    shutil.copy(ROOT / ".gitignore", tmp_path / ".gitignore")
    assert git("check-ignore", "-q", "models/.onnx.tmp", cwd=tmp_path).returncode == 0
    with atomic_path(dest, is_dir=True) as tmp:
        assert not (tmp / "model.onnx").exists(), "the leftover was cleared"
        (tmp / "model.onnx").write_bytes(b"a model")
    assert not leftover.exists() and (dest / "model.onnx").read_bytes() == b"a model"
    assert oct(dest.stat().st_mode & 0o777) == "0o755"
    assert oct((dest / "model.onnx").stat().st_mode & 0o777) == "0o644"


def _start(repo: Path, *cmd: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", *cmd],
        cwd=repo,
        env=tool_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"exited {proc.returncode} before {path} appeared"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_sigterm_during_train_cleans_up(pipeline_repo: Path, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    cmd = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["train"]["cmd"]
    proc = _start(repo, *cmd.split()[2:])
    checkpoints = repo / "models" / ".model.checkpoints"
    _wait_for(checkpoints, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted (SIGTERM)")
    assert not checkpoints.exists() and not (repo / "models" / ".model.tmp").exists()


def test_sigkill_during_export_leaves_only_ignored_scratch_that_the_next_run_removes(
    pipeline_repo: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(pipeline_repo, repo, symlinks=True)
    before = (repo / "dvc.lock").read_text()
    cmd = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["export"]["cmd"]
    proc = _start(repo, *cmd.split()[2:])
    scratch = repo / "models" / ".onnx.tmp"
    _wait_for(scratch / "model.onnx", proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert scratch.exists()
    assert git("status", "--porcelain", "--", "models", cwd=repo).stdout == "", "ignored by git"
    dvc("repro", "--force", "--single-item", "export", cwd=repo)
    assert not scratch.exists()
    assert (repo / "dvc.lock").read_text() == before, "the rerun rebuilt the same ONNX"


def test_outputs_have_normal_file_modes(pipeline_repo: Path) -> None:
    for folder in ("models/model", "models/onnx", "data/raw"):
        root = pipeline_repo / folder
        assert oct(root.stat().st_mode & 0o777) == "0o755", folder
        for path in root.iterdir():
            assert oct(path.stat().st_mode & 0o777) == "0o644", path


def test_bad_source_csv_fails_in_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"query,title,label\nq,t,1\n\xff\xfe,x,0\n")
    with pytest.raises(DataError, match=r"bad.csv: not UTF-8 text \(byte 0xff at line 3\)"):
        run_download(DataParams(source=str(bad)), tmp_path / "data/raw", tmp_path / "m.json")
    assert not list((tmp_path / "data").iterdir())
