"""Data tests: every bad-input case gives one clear line, and nothing is left in data/."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ranker.data.validate import validate_pairs
from ranker.errors import DataError
from tests.conftest import ROOT, run

GOOD = "query,title,label\nq1,t1,1\nq1,t2,0\nq2,t3,0\nq2,t4,1\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "x.csv: empty file"),
        (b"query,title,label\n", "x.csv: header only, no data rows"),
        (
            b"query,title\nq,t\n",
            "x.csv: missing required column(s) 'label'; found 'query', 'title'",
        ),
        (
            b"query,title,label\nq1,t1,1\n,t2,0\n",
            "x.csv: column 'query' is empty or missing in 1 row(s), first at line(s) 3",
        ),
        (
            b"query,title,label\nq1,,1\nq1,t2,0\nq2, ,1\n",
            "column 'title' is empty or missing in 2 row(s), first at line(s) 2, 4",
        ),
        (
            b"query,title,label\nq1,t1,\nq1,t2,0\n",
            "column 'label' is empty or missing in 1 row(s), first at line(s) 2",
        ),
        (
            b"query,title,label\nq1,t1,1\nq1,t2,2\nq1,t3,yes\n",
            "column 'label' has invalid value(s) '2', 'yes' in 2 row(s), first at line(s) 3, 4",
        ),
        (
            b"query,title,label\nq1,t1,1\nq1,t2,\xff\n",
            "x.csv: not UTF-8 text (byte 0xff at line 3)",
        ),
        (b"query,title,label\nq1,t1,1\nq1,t2,1\n", "column 'label' has only the value 1"),
    ],
)
def test_bad_input_is_one_line_error(content: bytes, message: str) -> None:
    with pytest.raises(DataError) as info:
        validate_pairs(content, "x.csv")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_duplicates_dropped_and_conflicts_reported(caplog: pytest.LogCaptureFixture) -> None:
    content = (GOOD + "q1,t1,1\nq2,t3,1\n").encode()
    df, report = validate_pairs(content, "x.csv")
    assert report.duplicates_dropped == 1
    assert report.conflicting_pairs == 1
    assert "conflicting labels, first at line(s) 4" in caplog.text
    # The conflicting pair is kept once, as relevant.
    assert df[(df["query"] == "q2") & (df["title"] == "t3")]["label"].tolist() == [1]
    assert len(df) == 4


def test_graded_threshold_maps_grades() -> None:
    content = b"query,title,label\nq,a,0\nq,b,1\nq,c,2\n"
    df, _ = validate_pairs(content, "x.csv", graded_threshold=2)
    assert df["label"].tolist() == [0, 0, 1]
    df, _ = validate_pairs(content, "x.csv", graded_threshold=1)
    assert df["label"].tolist() == [0, 1, 1]


def test_extra_columns_and_whitespace_are_tolerated() -> None:
    df, _ = validate_pairs(b"id,query,title,label\n1, q ,t1 ,1\n2,q,t2,0\n", "x.csv")
    assert list(df.columns) == ["query", "title", "label", "grade"]
    assert df["query"].tolist() == ["q", "q"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"query,title,label\nq1,t1,1\nq1,t2,5\n", "invalid value(s) '5'"),
        (b"\xff\xfe", "not UTF-8 text"),
        (b"", "empty file"),
    ],
)
def test_download_stage_leaves_nothing_on_bad_input(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content)
    (tmp_path / "params.yaml").write_text(f"data:\n  source: {bad}\n")
    proc = run(
        [
            sys.executable,
            "-m",
            "stages.download",
            "--out",
            "data/raw",
            "--metrics",
            "metrics/data.json",
        ],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and needle in last and str(bad) in last
    # Nothing partial: no output, and no scratch or temporary file beside one.
    assert not list((tmp_path / "data").rglob("*")) if (tmp_path / "data").exists() else True
    assert not (tmp_path / "metrics").exists()


def test_download_stage_refuses_output_outside_repo(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("data:\n  sample_pairs_per_query: 10\n")
    proc = run(
        [sys.executable, "-m", "stages.download", "--out", "../escape", "--metrics", "m.json"],
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 1
    assert "outside the repository" in proc.stderr
    assert not (tmp_path.parent / "escape").exists()
    assert ROOT.exists()


@pytest.mark.parametrize("graded", [None, 1, 2])
def test_validation_in_chunks_equals_validation_whole(
    monkeypatch: pytest.MonkeyPatch, graded: int | None
) -> None:
    """download streams its file in chunks (two passes): duplicates and conflicts that
    straddle chunks give the same pairs, report and lines as one chunk would."""
    import random

    import ranker.data.formats as formats

    rng = random.Random(graded)
    labels = ["0", "1", "2"] if graded else ["0", "1"]
    rows = [f"q{rng.randint(0, 3)},t{rng.randint(0, 5)},{rng.choice(labels)}" for _ in range(60)]
    content = ("query,title,label\n" + "\n".join(rows) + "\n").encode()
    whole, whole_report = validate_pairs(content, "x.csv", graded_threshold=graded)
    monkeypatch.setattr(formats, "CHUNK_ROWS", 2)
    chunked, chunked_report = validate_pairs(content, "x.csv", graded_threshold=graded)
    assert chunked.equals(whole) and chunked_report == whole_report
    assert whole_report.duplicates_dropped > 0 and whole_report.conflicting_pairs > 0
    # Each (query, title) once, with its highest judgement.
    assert not whole.duplicated(["query", "title"]).any()
    best = {}
    for row in rows:
        q, t, g = row.split(",")
        best[(q, t)] = max(best.get((q, t), 0), int(g))
    kept = zip(whole["query"], whole["title"], whole["grade"], strict=True)
    assert {(q, t): g for q, t, g in kept} == best
