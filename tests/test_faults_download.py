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
from ranker.errors import DataError, DownloadError
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


# --- inputs that are not what they claim (issue 31) --------------------------------------

TOPICS_XML = """<topics>
<topic number="1"><query>coronavirus origin</query><question>where from?</question></topic>
<topic number="2"><query>masks</query><question>do masks work?</question></topic>
</topics>
"""
QRELS = "1 4.5 u1 2\n1 4.5 u2 0\n2 4.5 u3 1\n2 4.5 u4 0\n"
METADATA = "cord_uid,title\nu1,Bat origins\nu2,Unrelated\nu3,Mask trial\nu4,Other\n"


def trec_files(folder: Path, *, topics: str = TOPICS_XML, qrels: str | Path = QRELS) -> Path:
    """A small TREC-style source (topics, qrels, metadata) and its spec YAML."""
    import yaml

    (folder / "topics.xml").write_text(topics)
    (folder / "metadata.csv").write_text(METADATA)
    if isinstance(qrels, Path):
        qrels_location = str(qrels)
    else:
        (folder / "qrels.txt").write_text(qrels)
        qrels_location = str(folder / "qrels.txt")
    spec = {
        "topics": {"location": str(folder / "topics.xml")},
        "qrels": {"location": qrels_location},
        "collection": {
            "location": str(folder / "metadata.csv"),
            "columns": {"doc_id": "cord_uid"},
        },
    }
    path = folder / "trec.yaml"
    path.write_text(yaml.safe_dump({"trec": spec}))
    return path


def trec_download(spec: Path, out: Path) -> dict:
    params = DataParams(source=str(spec), graded_threshold=1)
    return run_download(params, out / "raw", out / "data.json")


def test_a_small_trec_source_downloads(tmp_path: Path) -> None:
    """The control for the cases below: the same files, well formed, make 4 pairs."""
    trec_download(trec_files(tmp_path), tmp_path)
    assert (tmp_path / "raw/pairs.csv").read_text().count("\n") == 5


@pytest.mark.parametrize(
    ("topics", "qrels", "message"),
    [
        (
            TOPICS_XML.replace(' number="2"', ""),
            QRELS,
            "topics.xml: a <topic> has no number attribute",
        ),
        (
            TOPICS_XML.replace("<query>masks</query>", ""),
            QRELS,
            "topics.xml: topic 2 has no <query> text (it has <question>); set data.query_field",
        ),
        (TOPICS_XML, QRELS + "1 4.5 garbage\n", "qrels.txt:5: 3 field(s), expected 4"),
        (TOPICS_XML, QRELS + "1 4.5 abc 1 extra\n", "qrels.txt:5: 5 field(s), expected 4"),
        (
            TOPICS_XML,
            QRELS + "x 0 u1 1\n",
            "qrels.txt:5: topic 'x' is not in the topics (1 such topic(s))",
        ),
        (TOPICS_XML, "1 Q0 u1 high\n", "qrels.txt:1: the grade (field 4) is not a whole number"),
    ],
)
def test_malformed_trec_files_are_one_line(
    tmp_path: Path, topics: str, qrels: str, message: str
) -> None:
    spec = trec_files(tmp_path, topics=topics, qrels=qrels)
    with pytest.raises(DataError) as info:
        trec_download(spec, tmp_path)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "raw").exists()


def test_a_qrels_location_outside_the_data_prints_none_of_its_contents(tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("root:*:20228:0:99999:7:::\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n")
    spec = trec_files(tmp_path, qrels=secret)
    with pytest.raises(DataError) as info:
        trec_download(spec, tmp_path)
    message = str(info.value)
    assert message == (
        f"{secret}:1: 1 field(s), expected 4 (topic iteration doc_id grade); is this a qrels file?"
    )
    assert "root:*" not in message and "20228" not in message


def test_a_planted_link_at_a_scratch_path_is_replaced_not_followed(
    source: Source, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ln -s /tmp/victim data/.raw-qrels.download`, then a spec whose qrels is a URL."""
    import hashlib

    import yaml

    monkeypatch.setenv("RANKER_DOWNLOAD_RETRIES", "0")
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    source.body = QRELS.encode()
    spec = trec_files(tmp_path)
    doc = yaml.safe_load(spec.read_text())
    doc["trec"]["qrels"]["location"] = source.url
    doc["trec"]["qrels"]["sha256"] = hashlib.sha256(QRELS.encode()).hexdigest()
    spec.write_text(yaml.safe_dump(doc))
    data = tmp_path / "data"
    data.mkdir()
    for name in (".raw-qrels.download", ".raw.download", ".raw.tmp"):
        (data / name).symlink_to(victim)
    run_download(DataParams(source=str(spec), graded_threshold=1), data / "raw", tmp_path / "m")
    assert victim.read_text() == "precious\n"
    assert len((data / "raw/pairs.csv").read_text().splitlines()) == 5


def test_a_carriage_return_inside_a_quoted_field_stays_in_its_row(tmp_path: Path) -> None:
    """pandas writes a field holding only \\r unquoted: it read back as two rows."""
    import pandas as pd

    csv = tmp_path / "pairs.csv"
    csv.write_bytes(PAIRS + b'q3,"a title\rwith a bare carriage return",1\n')
    run_download(DataParams(source=str(csv)), tmp_path / "raw", tmp_path / "m.json")
    pairs = pd.read_csv(tmp_path / "raw/pairs.csv")
    assert len(pairs) == 7
    assert pairs["title"].iloc[-1] == "a title\nwith a bare carriage return"


def test_a_body_without_line_breaks_is_refused_at_its_first_64_kb(tmp_path: Path) -> None:
    """A 400 MB "header" once took 3.2 GB and came back as a 400 MB message."""
    csv = tmp_path / "one-line.csv"
    with open(csv, "wb") as fh:
        for _ in range(64):
            fh.write(b"query,title,label," * 2000)
    with pytest.raises(DataError) as info:
        run_download(DataParams(source=str(csv)), tmp_path / "raw", tmp_path / "m.json")
    assert str(info.value) == (
        f"{csv}: no line break in the first 65536 bytes: not a CSV with a header row "
        "(query,title,label)"
    )


def test_a_wide_bad_header_is_quoted_short(tmp_path: Path) -> None:
    csv = tmp_path / "wide.csv"
    csv.write_text(",".join(f"column_{i}" * 20 for i in range(200)) + "\nx\n")
    with pytest.raises(DataError) as info:
        run_download(DataParams(source=str(csv)), tmp_path / "raw", tmp_path / "m.json")
    assert len(str(info.value)) < 600 and "missing required column(s)" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: &a ['x','x','x','x','x','x','x','x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n",
            "not valid YAML (line 2: aliases (*name) are not accepted)",
        ),
        ("train:\n  epochs: 2\ntrain:\n  epochs: 3\n", "not valid YAML (line 3: duplicate key"),
        ("train:\n  epochs: 2\n  epochs: 3\n", "not valid YAML (line 3: duplicate key 'epochs')"),
    ],
)
def test_params_yaml_without_aliases_or_duplicate_keys(
    tmp_path: Path, text: str, message: str
) -> None:
    from ranker.config import load_params
    from ranker.errors import ParamError

    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ParamError) as info:
        load_params(path)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)


def test_params_yaml_that_is_not_utf8_or_huge_is_one_line(tmp_path: Path) -> None:
    from ranker.config import load_params
    from ranker.errors import ParamError

    path = tmp_path / "params.yaml"
    path.write_bytes(b"train:\n  note: caf\xe9\n")
    with pytest.raises(ParamError) as info:
        load_params(path)
    assert str(info.value) == (
        f"{path}: not UTF-8 text (byte 0xe9 at line 2); re-encode it as UTF-8"
    )
    path.write_bytes(b"# padding\n" * 200_000)
    with pytest.raises(ParamError, match=r"larger than 1048576 bytes"):
        load_params(path)
