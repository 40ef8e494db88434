"""Pairs as people have them: CSV, TSV, JSON Lines and Parquet, their own column names, any
grade scale, each through the download stage's code; and the bad inputs of each format as
one line naming the file, the column as the user named it and the line (or row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.errors import DataError

MAPPED = {"query": "question", "title": "passage", "label": "relevance"}
# Four queries, titles graded 0-3, one duplicate row and a quote and a comma in a title.
ROWS = [
    ("what causes covid", 'The "novel" coronavirus, SARS-CoV-2', 3),
    ("what causes covid", "Influenza seasonality", 0),
    ("what causes covid", "Bat origins of coronaviruses", 2),
    ("mask efficacy", "Face masks reduce transmission", 3),
    ("mask efficacy", "Hand washing in schools", 1),
    ("mask efficacy", "Hand washing in schools", 1),
    ("vaccine trials", "Phase 3 mRNA vaccine results", 2),
    ("vaccine trials", "Economic effects of lockdown", 0),
    ("long covid", "Persistent symptoms after infection", 3),
    ("long covid", "Traffic accidents in 2019", 0),
]


def _frame(names: dict[str, str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["query", "title", "label"])
    return frame.rename(columns=names or {})


def write(path: Path, frame: pd.DataFrame) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        path.write_text(frame.to_csv(sep="\t", index=False, quoting=3), encoding="utf-8")
    elif path.suffix == ".jsonl":
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in frame.to_dict("records")),
            encoding="utf-8",
        )
    else:
        frame.to_parquet(path, index=False)
    return path


def download(tmp_path: Path, source: Path, **data: Any) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "raw"
    metrics = run_download(DataParams(source=str(source), **data), out, tmp_path / "data.json")
    return out, metrics


@pytest.mark.parametrize("suffix", [".tsv", ".jsonl", ".parquet"])
def test_every_format_gives_the_csvs_pairs(tmp_path: Path, suffix: str) -> None:
    """The same judgements as CSV, as TSV, JSON Lines or Parquet with the user's column names
    and a 0-3 scale: byte-identical clean pairs and corpus, the format and scale recorded."""
    graded = {"graded_threshold": 2, "max_grade": 3}
    reference, ref_metrics = download(
        tmp_path / "csv", write(tmp_path / "p.csv", _frame()), **graded
    )
    other = write(tmp_path / f"p{suffix}", _frame(MAPPED))
    out, metrics = download(tmp_path / "other", other, columns=MAPPED, **graded)
    assert (out / "pairs.csv").read_bytes() == (reference / "pairs.csv").read_bytes()
    assert (out / "corpus.parquet").read_bytes() == (reference / "corpus.parquet").read_bytes()
    assert metrics == ref_metrics
    assert metrics["rows"] == 9 and metrics["duplicates_dropped"] == 1 and metrics["max_grade"] == 3
    pairs = pd.read_csv(out / "pairs.csv")
    assert pairs["grade"].tolist() == [3, 0, 2, 3, 1, 2, 0, 3, 0]
    assert pairs["label"].tolist() == [1, 0, 1, 1, 0, 1, 0, 1, 0]  # grade >= 2
    assert json.loads((out / "meta.json").read_text())["format"] == suffix[1:]


def test_the_format_is_declared_where_the_extension_does_not_say(tmp_path: Path) -> None:
    source = write(tmp_path / "p.tsv", _frame())
    renamed = source.rename(tmp_path / "judgements.txt")
    with pytest.raises(DataError, match="missing required column"):
        download(tmp_path, renamed)  # read as CSV: one column named "query\ttitle\tlabel"
    out, _ = download(tmp_path, renamed, format="tsv", graded_threshold=1)
    assert len(pd.read_csv(out / "pairs.csv")) == 9


def test_an_unset_max_grade_is_the_datas_highest(tmp_path: Path) -> None:
    frame = _frame()
    frame["label"] = frame["label"].replace({3: 4})  # a 0-4 scale
    _, metrics = download(tmp_path, write(tmp_path / "p.jsonl", frame), graded_threshold=3)
    assert metrics["max_grade"] == 4


def _bad(tmp_path: Path, name: str, content: str | pd.DataFrame) -> Path:
    path = tmp_path / name
    if isinstance(content, pd.DataFrame):
        return write(path, content)
    path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "data", "message"),
    [
        (
            "mixed.tsv",
            "query\ttitle\tlabel\nq1\tt1\t1\nq1,t2,0\nq2\tt3\t0\n",
            {},
            "mixed.tsv: column 'title' is empty or missing in 1 row(s), first at line(s) 3",
        ),
        (
            "commas.tsv",
            "query,title,label\nq1,t1,1\n",
            {},
            "commas.tsv: read as TSV (data.format, or its extension) but its header has no tab "
            "and has commas: a CSV? set data.format: csv",
        ),
        (
            "broken.jsonl",
            '{"query": "q", "title": "t", "label": 1}\n{"query": "q", "title": \n',
            {},
            "broken.jsonl: line 2 is not valid JSON (Expecting value)",
        ),
        (
            "list.jsonl",
            '["q", "t", 1]\n',
            {"columns": MAPPED},
            "list.jsonl: line 1 is a JSON list, not an object with 'question' "
            "(data.columns.query), 'passage' (data.columns.title), 'relevance' "
            "(data.columns.label)",
        ),
        (
            "above.jsonl",
            _frame(MAPPED).assign(relevance=[3, 0, 4, 3, 1, 1, 2, 0, 3, 0]),
            {"columns": MAPPED, "graded_threshold": 2, "max_grade": 3},
            "above.jsonl: column 'relevance' (data.columns.label) has invalid value(s) '4' in 1 "
            "row(s), first at line(s) 3; allowed: integer grades 0 to data.max_grade 3",
        ),
        (
            "unmapped.parquet",
            _frame({"query": "question", "title": "text", "label": "relevance"}),
            {"columns": MAPPED},
            "unmapped.parquet: missing required column(s) 'passage' (data.columns.title); found "
            "'question', 'text', 'relevance'",
        ),
        (
            "negative.parquet",
            _frame().assign(label=[1, 0, -1, 1, 0, 0, 1, 0, 1, 0]),
            {"graded_threshold": 1},
            "negative.parquet: column 'label' has invalid value(s) '-1' in 1 row(s), first at "
            "row(s) 3; allowed: integer grades 0 and up",
        ),
        (
            "binary.csv",
            _frame(),
            {},
            "binary.csv: column 'label' has invalid value(s) '3', '2' in 5 row(s), first at "
            "line(s) 2, 4, 5, 8, 10; allowed: 0, 1 (set data.graded_threshold for graded labels)",
        ),
        (
            "too_high.csv",
            _frame(),
            {"graded_threshold": 4},
            "too_high.csv: column 'label' has only the value 0 (grade >= data.graded_threshold "
            "4); need both classes",
        ),
    ],
)
def test_bad_input_is_one_line_naming_file_column_and_line(
    tmp_path: Path, name: str, content: Any, data: dict[str, Any], message: str
) -> None:
    source = _bad(tmp_path, name, content)
    with pytest.raises(DataError) as info:
        download(tmp_path, source, **data)
    assert str(info.value) == f"{source}: {message.split(': ', 1)[1]}"
    assert not (tmp_path / "raw").exists() and not (tmp_path / "data.json").exists()


def test_a_file_that_is_not_parquet_says_so(tmp_path: Path) -> None:
    source = tmp_path / "pairs.parquet"
    source.write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"pairs.parquet: not a valid Parquet file \("):
        download(tmp_path, source)
