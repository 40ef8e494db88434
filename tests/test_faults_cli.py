"""Faults at the reranking CLI: bad options, non-UTF-8 input, damaged or missing model files.

Each case: exit status, the one-line message, no score printed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool_env
from tests.test_rerank_cli import TITLES, cli, seal_manifest

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
    from ranker.serve.rerank import Reranker, RerankError

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
        [sys.executable, "-m", "ranker.serve.cli", "-m", str(onnx_dir), "-q", "covid", *args],
        input=stdin or b"",
        capture_output=True,
        env=tool_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == (
        f"error: {name}: not UTF-8 text (byte 0xe9 at line 1); re-encode it as UTF-8"
    )


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


# --- the manifest: its own checksum, then every field the runtime reads ----------------


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from ranker.serve.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def rewrite_manifest(folder: Path, **fields: object) -> None:
    """Edit ranker.json as a consistent tamperer would: its own checksum recomputed."""
    path = folder / "ranker.json"
    manifest = json.loads(path.read_text())
    for key, value in fields.items():
        if value is DROP:
            manifest.pop(key)
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest))
    seal_manifest(folder)


DROP = object()


def test_an_edited_manifest_is_refused(
    onnx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """max_length 4 would cut every pair to its query and reverse the ranking, silently."""
    copy = tmp_path / "onnx"
    shutil.copytree(onnx_dir, copy)
    manifest = json.loads((copy / "ranker.json").read_text())
    (copy / "ranker.json").write_text(json.dumps({**manifest, "max_length": 4}))
    code, out, err = run_main(capsys, "-m", str(copy), "-q", "covid", *TITLES)
    assert code == 1 and out == ""
    assert err.strip() == (
        f"error: {copy / 'ranker.json'}: SHA-256 does not match ranker.json.sha256 "
        "(damaged or edited manifest); fetch it again with `make pull-onnx`"
    )
    (copy / "ranker.json.sha256").unlink()
    code, _, err = run_main(capsys, "-m", str(copy), "-q", "covid", *TITLES)
    assert code == 1 and "ranker.json.sha256: no checksum of ranker.json beside it" in err
    # The checksum is the one sha256sum writes and checks.
    check = subprocess.run(
        ["sha256sum", "-c", "ranker.json.sha256"], cwd=onnx_dir, capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.strip() == "ranker.json: OK"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(DROP, "null"), ("abc", '"abc"'), (-5, "-5"), (100000, "100000"), (True, "true")],
)
def test_manifest_fields_are_checked_before_use(
    onnx_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    value: object,
    shown: str,
) -> None:
    copy = tmp_path / "onnx"
    shutil.copytree(onnx_dir, copy)
    rewrite_manifest(copy, max_length=value)
    positions = json.loads((onnx_dir / "ranker.json").read_text())["max_positions"]
    code, out, err = run_main(capsys, "-m", str(copy), "-q", "covid", "a " * 3000, *TITLES)
    assert code == 1 and out == ""
    assert err.strip() == (
        f"error: {copy / 'ranker.json'}: max_length is {shown}, expected an integer in "
        f"[2, {positions}]; re-export the model"
    )


def test_a_malformed_tokenizer_listed_in_the_manifest_is_one_line(
    onnx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "onnx"
    shutil.copytree(onnx_dir, copy)
    data = (copy / "tokenizer.json").read_bytes()
    (copy / "tokenizer.json").write_bytes(data[: len(data) // 2])
    sums = json.loads((copy / "ranker.json").read_text())["sha256"]
    sums["tokenizer.json"] = hashlib.sha256((copy / "tokenizer.json").read_bytes()).hexdigest()
    rewrite_manifest(copy, sha256=sums)
    code, out, err = run_main(capsys, "-m", str(copy), "-q", "covid", *TITLES)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {copy / 'tokenizer.json'}: not a tokenizer file (")


# --- arguments and pairs files ----------------------------------------------------------


def test_a_non_utf8_query_argument_is_one_line(onnx_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ranker.serve.cli", "-m", str(onnx_dir), "-q", b"caf\xe9", "x"],
        capture_output=True,
        env=tool_env(),
        cwd=ROOT,
    )
    assert proc.returncode == 1 and proc.stdout == b""
    assert proc.stderr.decode().strip() == (
        "error: -q: not UTF-8 text (byte 0xe9); re-encode it as UTF-8"
    )


HEADER = "query_id\tdoc_id\tquery\ttitle\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "q1\td1\tcovid\t" + "x" * 200_000 + "\n",
            "pairs.tsv:2: not a valid row (field larger than field limit (131072))",
        ),
        (
            'q1\td1\tcovid\t"unbalanced title\nq1\td2\tcovid\tB\nq1\td3\tcovid\tC\n',
            "pairs.tsv:2: a quoted field runs on to line 4; close the quote or remove it",
        ),
        ("q1\td1\tcovid\tA\rB\n", "pairs.tsv:2: not a valid row (new-line character seen"),
        ("q1\td1\tcovid\t\xff\n".encode("latin-1").decode("latin-1"), None),
    ],
)
def test_pairs_that_are_not_rows_are_one_line(
    onnx_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    body: str,
    message: str | None,
) -> None:
    pairs, run = tmp_path / "pairs.tsv", tmp_path / "out.run"
    pairs.write_bytes((HEADER + body).encode("utf-8" if message else "latin-1"))
    code, out, err = run_main(capsys, "-m", str(onnx_dir), "--pairs", str(pairs), "--run", str(run))
    assert code == 1 and out == ""
    (line,) = [x for x in err.splitlines() if x.startswith("error: ")]
    expected = message or "pairs.tsv: not UTF-8 text (byte 0xff at line 2); re-encode it as UTF-8"
    assert line.startswith(f"error: {tmp_path}/{expected}"), err
    assert not run.exists()


def test_a_run_path_that_is_a_directory_is_one_line(
    onnx_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text(HEADER + "q1\td1\tcovid\tA\n")
    code, _, err = run_main(
        capsys, "-m", str(onnx_dir), "--pairs", str(pairs), "--run", str(tmp_path)
    )
    assert code == 1
    assert err.strip() == f"error: --run {tmp_path}: is a directory; give the run file's path"
    code, _, err = run_main(
        capsys, "-m", str(onnx_dir), "--pairs", str(tmp_path), "--run", str(tmp_path / "x.run")
    )
    assert code == 1 and err.strip() == f"error: {tmp_path}: is a directory, not a pairs file"


def test_threads_past_the_cores_are_capped_with_a_line(
    onnx_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from ranker.serve.rerank import Reranker
    from ranker.threads import machine_cores

    with caplog.at_level(logging.WARNING, logger="ranker.threads"):
        ranker = Reranker(onnx_dir, threads=100_000)
    cores = machine_cores()
    assert caplog.messages == [
        f"threads 100000 is more than the {cores} core(s) this process may use: using "
        f"{cores}, which gives the same results as threads {cores}"
    ]
    assert ranker.session.get_session_options().intra_op_num_threads == cores


def test_run_threads_past_the_cores_are_capped_with_a_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`run.threads: 100000` once started 100,000 torch threads and died in Arrow's allocator."""
    import torch

    from ranker.model.modeling import set_threads
    from ranker.threads import machine_cores

    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.WARNING, logger="ranker.threads"):
            assert set_threads(100_000) == machine_cores() == torch.get_num_threads()
        (message,) = caplog.messages
        assert message.startswith("run.threads 100000 is more than the ")
        assert set_threads(0) == machine_cores()
    finally:
        torch.set_num_threads(before)
