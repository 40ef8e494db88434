"""The reranking command line, end to end, in a process where torch cannot be imported."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool_env

# Any import of torch or transformers fails in the child: the CLI must not need them.
BLOCK = (
    "import sys; sys.modules['torch'] = None; sys.modules['transformers'] = None; "
    "from ranker.serve.rerank import main; sys.exit(main(sys.argv[1:]))"
)

TITLES = [
    "Bat and pangolin reservoirs of the pandemic virus",
    "Origin-destination mobility data under coronavirus lockdown",
    "Economic recovery plans after coronavirus",
]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK, *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=tool_env(),
        cwd=ROOT,
    )


def test_ranks_arguments_with_json(onnx_dir: Path) -> None:
    proc = cli("-m", str(onnx_dir), "-q", "coronavirus origin", "--json", *TITLES)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    results = out["results"]
    assert sorted(r["title"] for r in results) == sorted(TITLES)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert [r["rank"] for r in results] == [1, 2, 3]


def test_matches_the_library_scores(onnx_dir: Path) -> None:
    from ranker.serve.rerank import Reranker

    expected = Reranker(onnx_dir).rerank("coronavirus origin", TITLES)
    proc = cli("-m", str(onnx_dir), "-q", "coronavirus origin", *TITLES)
    lines = [line.split("\t") for line in proc.stdout.strip().splitlines()]
    assert [t for _, t in lines] == [r.title for r in expected]
    assert [float(s) for s, _ in lines] == pytest.approx([r.score for r in expected], abs=1e-4)


def test_stdin_file_int8_and_top(onnx_dir: Path, tmp_path: Path) -> None:
    proc = cli(
        "-m", str(onnx_dir), "-q", "masks", "--int8", "--top", "2", stdin="\n".join(TITLES) + "\n\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 2
    titles = tmp_path / "titles.txt"
    titles.write_text("\n".join(TITLES))
    proc = cli("-m", str(onnx_dir), "-q", "masks", "-f", str(titles))
    assert proc.returncode == 0 and len(proc.stdout.strip().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-q", "  ", "a title"], None, "error: empty query"),
        (["-q", "masks"], "", "error: no candidate titles"),
        (
            ["-q", "masks", "-f", "/nonexistent/titles.txt"],
            None,
            "error: /nonexistent/titles.txt: cannot read",
        ),
    ],
)
def test_clear_errors(onnx_dir: Path, args: list[str], stdin: str | None, message: str) -> None:
    proc = cli("-m", str(onnx_dir), *args, stdin=stdin)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_and_corrupted_model(onnx_dir: Path, tmp_path: Path) -> None:
    proc = cli("-m", str(tmp_path / "nowhere"), "-q", "masks", "a title")
    assert proc.returncode == 1
    assert "no such model file" in proc.stderr and "make pull-onnx" in proc.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("tokenizer.json", "ranker.json"):
        (broken / name).write_bytes((onnx_dir / name).read_bytes())
    data = (onnx_dir / "model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 2])
    proc = cli("-m", str(broken), "-q", "masks", "a title")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (
        f"error: {broken / 'model.onnx'}: SHA-256 does not match ranker.json "
        "(damaged or replaced file); fetch it again with `make pull-onnx`"
    )
    # A file whose checksum the manifest vouches for, yet not ONNX: still one line.
    manifest = json.loads((broken / "ranker.json").read_text())
    (broken / "model.onnx").write_bytes(b"not onnx at all")
    manifest["sha256"]["model.onnx"] = hashlib.sha256(b"not onnx at all").hexdigest()
    (broken / "ranker.json").write_text(json.dumps(manifest))
    proc = cli("-m", str(broken), "-q", "masks", "a title")
    assert proc.returncode == 1
    assert "not a valid ONNX model" in proc.stderr and "Traceback" not in proc.stderr
