from __future__ import annotations

import pandas as pd
import pytest

from ranker.config import SplitParams
from ranker.data.sample import generate_sample
from ranker.data.split import run_split, split_pairs
from ranker.errors import DataError


@pytest.fixture(scope="module")
def pairs() -> pd.DataFrame:
    return generate_sample(pairs_per_query=20)


def test_query_split_has_no_overlap_and_right_size(pairs: pd.DataFrame) -> None:
    train, valid = split_pairs(pairs, SplitParams(strategy="query", test_size=0.2, seed=1))
    assert not set(train["query"]) & set(valid["query"])
    assert valid["query"].nunique() == 10 and train["query"].nunique() == 40
    assert len(train) + len(valid) == len(pairs)


def test_same_seed_same_split_other_seed_other_split(pairs: pd.DataFrame) -> None:
    a = split_pairs(pairs, SplitParams(seed=7))[1]
    b = split_pairs(pairs, SplitParams(seed=7))[1]
    c = split_pairs(pairs, SplitParams(seed=8))[1]
    pd.testing.assert_frame_equal(a, b)
    assert set(a["query"]) != set(c["query"])


def test_random_split_is_row_level_and_stratifiable(pairs: pd.DataFrame) -> None:
    train, valid = split_pairs(
        pairs, SplitParams(strategy="random", test_size=0.25, seed=0, stratify=True)
    )
    assert len(valid) == pytest.approx(len(pairs) * 0.25, abs=1)
    assert abs(train["label"].mean() - valid["label"].mean()) < 0.01
    # The reference's split leaks: queries appear on both sides.
    assert set(train["query"]) & set(valid["query"])


def test_query_split_needs_two_queries() -> None:
    one = pd.DataFrame({"query": ["q"] * 4, "title": list("abcd"), "label": [0, 1, 0, 1]})
    with pytest.raises(DataError, match="at least 2 queries"):
        split_pairs(one, SplitParams())


def test_run_split_writes_files_and_metrics(pairs: pd.DataFrame, tmp_path) -> None:
    metrics = run_split(pairs, SplitParams(), tmp_path / "split", tmp_path / "split.json")
    assert metrics["query_overlap"] == 0
    assert metrics["train"]["rows"] + metrics["valid"]["rows"] == len(pairs)
    assert {p.name for p in (tmp_path / "split").iterdir()} == {"train.csv", "valid.csv"}
