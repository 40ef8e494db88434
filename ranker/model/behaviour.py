"""Behaviour checks: inputs the data never shows, each with the ranking a user expects.

Per test query the reference titles come from the data: `relevant`, its relevant title that
shares the fewest words with the query (a paraphrase), and `irrelevant`, its non-relevant
title that shares the most (a decoy). Each check compares a constructed title with them:

- junk_title / near_empty_title: scored below the relevant paraphrase;
- junk_title_irrelevant / near_empty_title_irrelevant: judged irrelevant (score < 0, i.e.
  P(relevant) < 0.5) whatever the paraphrase scored, so a model that also misjudges the
  paraphrase is not mistaken for one that likes junk;
- query_as_title: the query itself, as a title, above the decoy;
- irrelevant_words_appended: the paraphrase plus unrelated words, still above the decoy;
- case_change: the paraphrase upper- or lower-cased scores the same (within CASE_TOL);
  the packaged model is uncased, so a cased model is what this catches.

The junk and near-empty titles are not among the synthetic sample's (ranker/data/sample.py
teaches front-matter titles such as "Editorial" as negatives; a test keeps the lists apart).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import pandas as pd

from ranker.config import EncodeParams
from ranker.model.encode import encode_frame
from ranker.model.predict import predict_scores

log = logging.getLogger(__name__)

JUNK_TITLES = ("a title", "untitled", "title", "paper", "n/a", "document 1")
NEAR_EMPTY_TITLES = ("research", "results", "a study", "introduction")
UNRELATED_WORDS = "with notes on football league attendance and wheat prices"
CASE_TOL = 1e-3
_WORD = re.compile(r"\w+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def references(frame: pd.DataFrame) -> pd.DataFrame:
    """Per query with both kinds of title: query, relevant, irrelevant (deterministic)."""
    rows = []
    for query, group in frame.groupby("query", sort=True):
        words = _words(query)
        overlap = group["title"].map(lambda t, w=words: len(_words(t) & w))
        rel, irr = group[group["label"] == 1], group[group["label"] == 0]
        if rel.empty or irr.empty:
            continue
        # Stable sorts: ties keep the data's order.
        relevant = rel.loc[overlap[rel.index].sort_values(kind="stable").index[0], "title"]
        irrelevant = irr.loc[
            overlap[irr.index].sort_values(ascending=False, kind="stable").index[0], "title"
        ]
        rows.append({"query": query, "relevant": relevant, "irrelevant": irrelevant})
    return pd.DataFrame(rows, columns=["query", "relevant", "irrelevant"])


def build_cases(refs: pd.DataFrame) -> pd.DataFrame:
    """One row per case: query, check, title, the reference title and the expected order."""
    rows = []
    for ref in refs.itertuples(index=False):
        for check, titles in (("junk_title", JUNK_TITLES), ("near_empty_title", NEAR_EMPTY_TITLES)):
            for title in titles:
                rows.append((ref.query, check, title, ref.relevant, "below"))
                rows.append((ref.query, f"{check}_irrelevant", title, "", "negative"))
        rows.append((ref.query, "query_as_title", ref.query, ref.irrelevant, "above"))
        appended = f"{ref.relevant} {UNRELATED_WORDS}"
        rows.append((ref.query, "irrelevant_words_appended", appended, ref.irrelevant, "above"))
        for changed in (ref.relevant.upper(), ref.relevant.lower()):
            rows.append((ref.query, "case_change", changed, ref.relevant, "same"))
    return pd.DataFrame(rows, columns=["query", "check", "title", "reference", "expect"])


def judge(cases: pd.DataFrame, score: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Add score, reference_score and passed to each case."""
    s = np.array([score[(q, t)] for q, t in zip(cases["query"], cases["title"], strict=True)])
    # No reference title: the decision threshold (score 0) is the reference.
    r = np.array(
        [
            score[(q, t)] if t else 0.0
            for q, t in zip(cases["query"], cases["reference"], strict=True)
        ]
    )
    expect = cases["expect"].to_numpy()
    passed = np.select(
        [expect == "below", expect == "above", expect == "negative"],
        [s < r, s > r, s < 0],
        default=np.abs(s - r) <= CASE_TOL,
    )
    return cases.assign(score=s, reference_score=r, passed=passed)


def summarize(judged: pd.DataFrame) -> dict[str, Any]:
    checks = {}
    for name, group in judged.groupby("check", sort=True):
        checks[name] = {
            "cases": len(group),
            "passed": int(group["passed"].sum()),
            "pass_rate": float(group["passed"].mean()),
        }
    return {
        "cases": len(judged),
        "pass_rate": float(judged["passed"].mean()) if len(judged) else float("nan"),
        "failures": int((~judged["passed"]).sum()),
        "checks": checks,
    }


def run_behaviour(
    *,
    model: Any,
    tokenizer: Any,
    collator: Any,
    frame: pd.DataFrame,
    encode: EncodeParams,
    batch_size: int,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score every case with `model`; return the summary and the judged cases."""
    cases = build_cases(references(frame))
    pairs = pd.concat(
        [
            cases[["query", "title"]],
            cases.loc[cases["reference"] != "", ["query", "reference"]].rename(
                columns={"reference": "title"}
            ),
        ]
    ).drop_duplicates(ignore_index=True)
    encoded = encode_frame(pairs.assign(label=0), tokenizer, encode, desc="encode checks")
    scores = predict_scores(model, encoded.to_pandas(), collator, batch_size, desc="checks")
    lookup = dict(zip(zip(pairs["query"], pairs["title"], strict=True), scores, strict=True))
    judged = judge(cases, lookup)
    summary = summarize(judged)
    for row in judged[~judged["passed"]].head(10).itertuples(index=False):
        log.warning(
            "behaviour %s failed for %r: %r scored %+.2f vs %r %+.2f",
            row.check,
            row.query,
            row.title,
            row.score,
            row.reference,
            row.reference_score,
        )
    return summary, judged
