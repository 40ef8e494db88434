"""The behaviour checks themselves, on scores chosen by hand (no model)."""

from __future__ import annotations

import pandas as pd

from ranker.data.sample import FRONT_MATTER, generate_sample
from ranker.model.behaviour import (
    JUNK_TITLES,
    NEAR_EMPTY_TITLES,
    build_cases,
    judge,
    references,
    summarize,
)


def test_checks_use_titles_the_sample_never_shows() -> None:
    shown = {t.lower() for t in generate_sample(pairs_per_query=20)["title"]}
    shown |= {t.lower() for t in FRONT_MATTER}
    assert not {t.lower() for t in (*JUNK_TITLES, *NEAR_EMPTY_TITLES)} & shown


def test_references_are_the_paraphrase_and_the_decoy() -> None:
    frame = pd.DataFrame(
        {
            "query": ["virus origin"] * 4,
            "title": [
                "virus origin study",  # relevant, 2 query words
                "zoonotic spillover",  # relevant, 0 query words: the paraphrase
                "origin of virus ward patients",  # irrelevant, 2 words: the decoy
                "school closures",  # irrelevant, 0 words
            ],
            "label": [1, 1, 0, 0],
        }
    )
    ref = references(frame).iloc[0]
    assert ref["relevant"] == "zoonotic spillover"
    assert ref["irrelevant"] == "origin of virus ward patients"


def test_judge_and_summary_on_hand_scores() -> None:
    refs = pd.DataFrame([{"query": "q", "relevant": "rel", "irrelevant": "irr"}])
    cases = build_cases(refs)
    score = {("q", t): -1.0 for t in cases["title"]}  # every constructed title: -1
    score.update({("q", "rel"): 2.0, ("q", "irr"): -3.0})
    score[("q", "a title")] = 2.5  # junk above the paraphrase, and judged relevant
    score[("q", "REL")] = 2.0  # upper-cased: same score
    score[("q", "rel")] = 2.0
    judged = judge(cases, score)
    failed = judged[~judged["passed"]]
    assert set(zip(failed["check"], failed["title"], strict=True)) == {
        ("junk_title", "a title"),
        ("junk_title_irrelevant", "a title"),
    }
    out = summarize(judged)
    assert out["failures"] == 2 and out["cases"] == len(cases)
    assert out["checks"]["junk_title"]["passed"] == len(JUNK_TITLES) - 1
    assert out["checks"]["case_change"]["pass_rate"] == 1.0
    # The query itself (-1) above the decoy (-3); the appended paraphrase (-1) too.
    assert out["checks"]["query_as_title"]["pass_rate"] == 1.0
