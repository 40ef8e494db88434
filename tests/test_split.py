"""Data tests of the splits: no query in two of train/valid/test, sizes, determinism, and
cross-validation folds that score every query exactly once."""

from __future__ import annotations

import pandas as pd
import pytest

from ranker.config import CvParams, SplitParams
from ranker.data.pairs import read_pairs
from ranker.data.sample import generate_sample
from ranker.data.split import cv_fold, fold_of_queries, run_split, split_pairs
from ranker.errors import DataError


@pytest.fixture(scope="module")
def pairs() -> pd.DataFrame:
    return generate_sample(pairs_per_query=20)


def _queries(parts: dict[str, pd.DataFrame]) -> dict[str, set[str]]:
    return {name: set(part["query"]) for name, part in parts.items()}


def test_query_split_three_ways_no_overlap_right_size(pairs: pd.DataFrame) -> None:
    parts = split_pairs(pairs, SplitParams(valid_size=0.2, test_size=0.2, seed=1))
    q = _queries(parts)
    assert not (q["train"] & q["valid"]) and not (q["train"] & q["test"])
    assert not (q["valid"] & q["test"])
    assert (len(q["train"]), len(q["valid"]), len(q["test"])) == (30, 10, 10)
    assert sum(len(p) for p in parts.values()) == len(pairs)


def test_same_seed_same_split_other_seed_other_split(pairs: pd.DataFrame) -> None:
    a = split_pairs(pairs, SplitParams(seed=7))["test"]
    b = split_pairs(pairs, SplitParams(seed=7))["test"]
    c = split_pairs(pairs, SplitParams(seed=8))["test"]
    pd.testing.assert_frame_equal(a, b)
    assert set(a["query"]) != set(c["query"])


def test_split_ignores_row_order(pairs: pd.DataFrame) -> None:
    shuffled = pairs.sample(frac=1, random_state=3)
    a = split_pairs(pairs, SplitParams())
    b = split_pairs(shuffled, SplitParams())
    assert _queries(a) == _queries(b)


def test_random_split_is_row_level_and_stratifiable(pairs: pd.DataFrame) -> None:
    params = SplitParams(strategy="random", valid_size=0.2, test_size=0.25, seed=0, stratify=True)
    parts = split_pairs(pairs, params)
    assert len(parts["test"]) == pytest.approx(len(pairs) * 0.25, abs=1)
    assert len(parts["valid"]) == pytest.approx(len(pairs) * 0.2, abs=1)
    assert abs(parts["train"]["label"].mean() - parts["test"]["label"].mean()) < 0.01
    # The reference's split leaks: queries appear on both sides.
    assert set(parts["train"]["query"]) & set(parts["test"]["query"])


def test_query_split_needs_three_queries() -> None:
    two = pd.DataFrame({"query": ["q", "r"] * 2, "title": list("abcd"), "label": [0, 1, 0, 1]})
    with pytest.raises(DataError, match="at least 3 queries"):
        split_pairs(two, SplitParams())


def test_run_split_writes_files_and_metrics(pairs: pd.DataFrame, tmp_path) -> None:
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    metrics = run_split(
        tmp_path / "pairs.csv",
        params=SplitParams(),
        out_dir=tmp_path / "split",
        metrics_path=tmp_path / "m.json",
    )
    assert metrics["query_overlap"] == 0
    assert sum(metrics[n]["rows"] for n in ("train", "valid", "test")) == len(pairs)
    names = {p.name for p in (tmp_path / "split").iterdir()}
    assert names == {"train.csv", "valid.csv", "test.csv"}


def test_few_held_out_queries_are_legal_and_labelled(tmp_path, caplog) -> None:
    """Ten queries split 6/2/2: the split is written, and one warning says why 2 queries
    cannot rank two systems and names `make cv`; the metrics carry the threshold."""
    import logging

    from ranker.data.sample import generate_sample

    sample = generate_sample(pairs_per_query=10)
    ten = sample[sample["query"].isin(sorted(sample["query"].unique())[:10])]
    ten.to_csv(tmp_path / "pairs.csv", index=False)
    with caplog.at_level(logging.WARNING, logger="ranker.data.split"):
        metrics = run_split(
            tmp_path / "pairs.csv",
            params=SplitParams(),
            out_dir=tmp_path / "split",
            metrics_path=tmp_path / "m.json",
        )
    assert [metrics[n]["queries"] for n in ("train", "valid", "test")] == [6, 2, 2]
    assert metrics["min_queries_to_compare"] == 6
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith(
        "split: validation holds 2 queries, test holds 2 queries: with fewer than 6 queries no "
        "paired test can tell two systems apart (its smallest two-sided p on n queries is 2/2^n"
    )
    assert "`make cv`" in warning


def test_cv_folds_score_every_query_exactly_once(pairs: pd.DataFrame) -> None:
    cv, split = CvParams(), SplitParams()
    folds = [cv_fold(pairs, fold=i, cv=cv, split=split) for i in cv.folds]
    tested = [q for parts in folds for q in parts["test"]["query"].unique()]
    assert sorted(tested) == sorted(pairs["query"].unique()), "each query tested once"
    for i, parts in enumerate(folds):
        q = _queries(parts)
        assert not (q["train"] & q["test"]) and not (q["valid"] & q["test"]), i
        assert not (q["train"] & q["valid"]), i
        assert len(q["test"]) == 10 and len(q["valid"]) == 10 and len(q["train"]) == 30
        assert sum(len(p) for p in parts.values()) == len(pairs)


def test_fold_assignment_is_seeded_and_balanced(pairs: pd.DataFrame) -> None:
    a = fold_of_queries(pairs, CvParams(seed=0))
    assert a == fold_of_queries(pairs.iloc[::-1], CvParams(seed=0))
    assert a != fold_of_queries(pairs, CvParams(seed=1))
    sizes = pd.Series(a).value_counts()
    assert sizes.max() - sizes.min() <= 1


def test_cv_needs_enough_queries_and_known_fold(pairs: pd.DataFrame) -> None:
    small = pairs[pairs["query"].isin(sorted(pairs["query"].unique())[:6])]
    with pytest.raises(DataError) as info:
        cv_fold(small, fold=0, cv=CvParams(), split=SplitParams())
    assert str(info.value) == (
        "cv: 5 folds need at least 10 queries (2 held out a fold), found 6; set cv.folds to "
        "[0, 1, 2] (3 folds)"
    )
    three = cv_fold(small, fold=2, cv=CvParams(folds=(0, 1, 2)), split=SplitParams())
    assert three["test"]["query"].nunique() == 2
    with pytest.raises(DataError, match="found 3; too few"):
        cv_fold(small[small["query"].isin(sorted(small["query"].unique())[:3])], fold=0,
                cv=CvParams(folds=(0, 1)), split=SplitParams())  # fmt: skip
    with pytest.raises(DataError, match="fold 7 is not one of"):
        cv_fold(pairs, fold=7, cv=CvParams(), split=SplitParams())


@pytest.mark.parametrize("strategy", ["query", "random"])
def test_streamed_split_equals_the_in_memory_one(
    pairs: pd.DataFrame, tmp_path, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    """Chunks of 7 rows (many chunks, queries cut across them) give the same split files as
    splitting the whole frame, rows in file order."""
    import ranker.data.pairs as pairs_module

    monkeypatch.setattr(pairs_module, "CHUNK_ROWS", 7)
    pairs.to_csv(tmp_path / "pairs.csv", index=False)
    params = SplitParams(strategy=strategy)
    metrics = run_split(
        tmp_path / "pairs.csv", params=params, out_dir=tmp_path / "s", metrics_path=tmp_path / "m"
    )
    whole = split_pairs(read_pairs(tmp_path / "pairs.csv"), params)
    for name, part in whole.items():
        written = read_pairs(tmp_path / "s" / f"{name}.csv")
        key = ["query", "title"]
        assert (
            written.sort_values(key)
            .reset_index(drop=True)
            .equals(part.sort_values(key).reset_index(drop=True))
        ), name
        assert metrics[name]["rows"] == len(part)
        assert metrics[name]["queries"] == part["query"].nunique()
        assert metrics[name]["positive_rate"] == round(float(part["label"].mean()), 4)
    if strategy == "query":  # file order, as the in-memory split keeps it
        assert read_pairs(tmp_path / "s" / "train.csv").equals(whole["train"])
