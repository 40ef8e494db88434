"""Hard negatives from the first stage (ranker/retrieval/mine.py): every guard, the counts,
seeding, and what the stage writes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ranker.config import MineParams, RetrieveParams, parse_params
from ranker.data.corpus import CORPUS_SCHEMA, QRELS_SCHEMA
from ranker.errors import DataError, ParamError
from ranker.retrieval.mine import best_relevant_scores, mine_split, run_mine
from ranker.retrieval.retrieve import RUN_SCHEMA, retrieve


def _run(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(query, doc_id, title, score) in rank order per query."""
    frame = pd.DataFrame(rows, columns=["query", "doc_id", "title", "score"])
    frame["rank"] = frame.groupby("query").cumcount()
    return frame[RUN_SCHEMA.names]


PAIRS = pd.DataFrame(
    {
        "query": ["q"] * 3 + ["r"] * 2,
        "title": ["rel one", "neg one", "rel two", "r rel", "r neg"],
        "label": [1, 0, 1, 1, 0],
        "grade": [1, 0, 2, 1, 0],
    }
)
QRELS = pd.DataFrame(
    {
        "query": ["q", "q", "q", "q", "r", "r", "r"],
        "doc_id": ["d-rel1", "d-neg1", "d-rel2", "d-unl", "d-rrel", "d-rneg", "d-rjn"],
        "grade": [1, 0, 2, 1, 1, 0, 0],
        "relevant": [True, False, True, True, True, False, False],
    }
)
RUN = _run(
    [
        ("q", "d-rel2", "rel two", 9.0),  # labelled (by id and title)
        ("q", "d-unl", "judged relevant, not a pair", 8.0),  # judged relevant: no
        ("q", "d-copy", "rel one", 7.0),  # the title of a labelled pair under another id
        ("q", "d-a", "hard a", 6.0),
        ("q", "d-b", "hard b", 5.0),
        ("q", "d-b2", "hard b", 4.5),  # the same title twice: mined once
        ("q", "d-c", "hard c", 4.0),
        ("q", "d-d", "hard d", 3.0),
        ("r", "d-rjn", "judged not relevant, not a pair", 2.0),
        ("r", "d-x", "x", 1.0),
        ("t", "d-t", "a test query's hit", 1.0),
    ]
)


def _mine(**kw) -> tuple[pd.DataFrame, dict]:
    best = kw.pop("best", None)
    rank_max = kw.pop("rank_max_", 100)
    return mine_split(PAIRS, RUN, QRELS, MineParams(**kw), best=best, rank_max=rank_max)


def test_top_negatives_skip_labelled_and_judged_relevant_hits() -> None:
    out, counts = _mine(negatives=2)
    mined = out.iloc[len(PAIRS) :]
    assert mined[mined["query"] == "q"]["title"].tolist() == ["hard a", "hard b"]
    assert mined[mined["query"] == "r"]["title"].tolist() == [
        "judged not relevant, not a pair",
        "x",
    ]
    assert (mined["label"] == 0).all() and (mined["grade"] == 0).all()
    assert out.iloc[: len(PAIRS)].equals(PAIRS), "the split's pairs come first, unchanged"
    assert "a test query's hit" not in out["title"].tolist(), "only the split's queries"
    assert counts["skipped"]["labelled"] == 2  # d-rel2 by title and id, d-copy by title
    assert counts["skipped"]["judged_relevant"] == 1
    assert counts["mined"] == 4 and counts["queries"] == 2 and counts["queries_short"] == 0
    assert counts["mined_judged_not_relevant"] == 1, "d-rjn is judged, just not a pair"
    assert counts["candidates"] == 10


def test_a_repeated_title_is_mined_once_and_short_queries_are_counted() -> None:
    out, counts = _mine(negatives=10)
    q = out.iloc[len(PAIRS) :].query("query == 'q'")["title"].tolist()
    assert q == ["hard a", "hard b", "hard c", "hard d"]
    assert counts["queries_short"] == 2


def test_rank_range_guard() -> None:
    out, counts = _mine(negatives=2, rank_min=4, rank_max_=7)
    q = out.iloc[len(PAIRS) :].query("query == 'q'")["title"].tolist()
    assert q == ["hard b", "hard c"]  # ranks 4..6: hard b, hard b (again), hard c
    assert counts["skipped"]["rank"] == 5 + 2  # q's ranks 0-3 and 7, r's 0 and 1
    assert out.iloc[len(PAIRS) :].query("query == 'r'").empty, "r's two hits are ranks 0, 1"


def test_max_score_and_relative_margin_guards() -> None:
    out, counts = _mine(negatives=5, max_score=5.0)
    q = out.iloc[len(PAIRS) :].query("query == 'q'")["title"].tolist()
    assert q == ["hard b", "hard c", "hard d"]
    assert counts["skipped"]["max_score"] == 1
    # best relevant score 6.0 for q: with margin 0.25 a negative scores at most 4.5
    out, counts = _mine(negatives=5, relative_margin=0.25, best={"q": 6.0, "r": 4.0})
    q = out.iloc[len(PAIRS) :].query("query == 'q'")["title"].tolist()
    assert q == ["hard b", "hard c", "hard d"]  # d-b2 (4.5) is hard b again
    assert counts["skipped"]["margin"] == 2  # hard a (6.0) and hard b (5.0)


def test_random_sampling_is_seeded() -> None:
    many = _run([("q", f"d{i}", f"t{i}", 100.0 - i) for i in range(50)])
    pairs = PAIRS[PAIRS["query"] == "q"]
    draw = [
        mine_split(pairs, many, QRELS, MineParams(negatives=5, sampling="random", seed=s),
                   best=None, rank_max=100)[0]["title"].tolist()
        for s in (0, 0, 1)
    ]  # fmt: skip
    assert draw[0] == draw[1] and draw[0] != draw[2]
    top = mine_split(pairs, many, QRELS, MineParams(negatives=5), best=None, rank_max=100)[0]
    assert top["title"].tolist()[-5:] == ["t0", "t1", "t2", "t3", "t4"]


def test_best_relevant_score_is_bm25_over_the_whole_corpus() -> None:
    corpus = pd.DataFrame(
        {
            "doc_id": ["a", "b", "c", "d"],
            "title": ["virus origin bats", "virus masks", "origin of bats", "unrelated"],
        }
    )
    qrels = pd.DataFrame(
        {"query": ["virus origin"] * 2, "doc_id": ["b", "c"], "grade": [1, 1], "relevant": True}
    )
    params = RetrieveParams()
    best = best_relevant_scores(corpus, qrels, ["virus origin", "nothing"], params)
    hits = retrieve(corpus, ["virus origin"], params).set_index("doc_id")["score"]
    assert best["virus origin"] == pytest.approx(max(hits["b"], hits["c"]), abs=1e-12)
    assert best["nothing"] == 0.0


def _stage_inputs(tmp_path: Path) -> dict[str, Path]:
    split = tmp_path / "split"
    split.mkdir()
    PAIRS.to_csv(split / "train.csv", index=False)
    PAIRS.to_csv(split / "valid.csv", index=False)
    RUN.to_parquet(tmp_path / "run.parquet")
    QRELS.astype({"grade": "int64"}).to_parquet(tmp_path / "qrels.parquet")
    corpus = RUN[["doc_id", "title"]].drop_duplicates("doc_id")
    corpus.to_parquet(tmp_path / "corpus.parquet")
    assert list(corpus.columns) == CORPUS_SCHEMA.names and len(QRELS_SCHEMA) == 4
    return {
        "split_dir": split,
        "run_path": tmp_path / "run.parquet",
        "qrels_path": tmp_path / "qrels.parquet",
        "corpus_path": tmp_path / "corpus.parquet",
    }


def test_stage_off_copies_the_split_byte_for_byte(tmp_path: Path) -> None:
    inputs = _stage_inputs(tmp_path)
    metrics = run_mine(
        **inputs, params=MineParams(), retrieve=RetrieveParams(),
        out_dir=tmp_path / "mined", metrics_path=tmp_path / "mine.json",
    )  # fmt: skip
    for name in ("train", "valid"):
        assert (tmp_path / "mined" / f"{name}.csv").read_bytes() == (
            inputs["split_dir"] / f"{name}.csv"
        ).read_bytes()
    assert metrics == {"negatives": 0} == json.loads((tmp_path / "mine.json").read_text())
    assert sorted(p.name for p in (tmp_path / "mined").iterdir()) == ["train.csv", "valid.csv"]


@pytest.mark.parametrize("valid", [True, False])
def test_stage_mines_train_and_valid_on_request(tmp_path: Path, valid: bool) -> None:
    inputs = _stage_inputs(tmp_path)
    metrics = run_mine(
        **inputs, params=MineParams(negatives=2, valid=valid),
        retrieve=RetrieveParams(), out_dir=tmp_path / "mined",
        metrics_path=tmp_path / "mine.json",
    )  # fmt: skip
    train = pd.read_csv(tmp_path / "mined/train.csv")
    assert len(train) > len(PAIRS) and metrics["train"]["mined"] == len(train) - len(PAIRS)
    assert ("valid" in metrics) is valid
    valid_bytes = (tmp_path / "mined/valid.csv").read_bytes()
    assert (valid_bytes == (inputs["split_dir"] / "valid.csv").read_bytes()) is not valid


def test_nothing_left_to_mine_fails_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    inputs = _stage_inputs(tmp_path)
    with pytest.raises(DataError, match=r"mine: no negative left for the 2 train queries"):
        run_mine(
            **inputs, params=MineParams(negatives=2, max_score=0.5), retrieve=RetrieveParams(),
            out_dir=tmp_path / "mined", metrics_path=tmp_path / "mine.json",
        )  # fmt: skip
    assert not (tmp_path / "mined").exists() and not (tmp_path / "mine.json").exists()
    assert not list(tmp_path.glob(".mined*"))


@pytest.mark.parametrize(
    ("mine", "match"),
    [
        ({"rank_max": 200}, r"mine: ranks \[0, 200\) are not inside the first stage's 100"),
        ({"rank_min": 100}, r"mine: ranks \[100, 100\)"),
        ({"rank_min": 5, "rank_max": 5}, r"mine: ranks \[5, 5\)"),
        ({"negatives": -1}, r"mine.negatives"),
        ({"sampling": "hardest"}, r"mine.sampling"),
        ({"relative_margin": 1.5}, r"mine.relative_margin"),
    ],
)
def test_mine_params_are_validated(mine: dict, match: str) -> None:
    with pytest.raises(ParamError, match=match):
        parse_params({"mine": mine})


def test_group_batches_must_be_whole() -> None:
    parse_params({"train": {"loss": "listwise", "batch_size": 16, "group_size": 8}})
    with pytest.raises(ParamError, match=r"train.batch_size: 12 pairs must make whole groups"):
        parse_params({"train": {"loss": "listwise", "batch_size": 12, "group_size": 8}})
    with pytest.raises(ParamError, match=r"multiple of 16"):
        parse_params(
            {
                "train": {"loss": "pairwise", "batch_size": 8, "group_size": 4},
                "distributed": {"nproc_per_node": 4},
            }
        )
    parse_params({"train": {"loss": "pointwise", "batch_size": 12, "group_size": 8}})
