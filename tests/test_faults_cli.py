"""Faults at the reranking CLI: bad options, non-UTF-8 input, damaged or missing model files.

Each case: exit status, the one-line message, no score printed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool_env
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
