"""The Vespa-input gate: ONNX scores from inputs built Vespa's way against the pipeline's.

Vespa pads every pair to `encode.max_length`, adds the start and separator ids itself
(the model's own, `customTokenInputIds`) and cuts an
over-long pair from the end; the pipeline truncates longest-first and pads per batch.
Where both give the same tokens the scores must agree within `vespa.atol` (else the stage
fails); where Vespa's cut differs, the gate reports how many pairs and what it does to
nDCG@k, so an operator knows what Vespa ranks with.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from tokenizers import Tokenizer
from tqdm.auto import tqdm

from ranker.config import VespaParams
from ranker.errors import ExportError
from ranker.evaluation.ranking import frame_ranking
from ranker.onnx.gates import ort_logits
from ranker.serve.contract import relevance_scores
from ranker.vespa.inputs import embed_tokens, token_attention_mask, token_input_ids, token_type_ids

log = logging.getLogger(__name__)

# The rank profile's query(empty): never sent, so all zeros, an input of length 0.
EMPTY = np.zeros(1, dtype=np.int64)


def vespa_feeds(
    tokenizer_json: Path,
    frame: pd.DataFrame,
    *,
    length: int,
    query_tokens: int,
    manifest: dict[str, Any],
) -> list[dict[str, np.ndarray]]:
    """Per pair, the [1, length] inputs the rank profile's functions build from
    `embed(tokenizer, query)` and the title's `embed tokenizer | attribute` tensor, in the
    model's pair template and with its inputs (the export's `manifest`)."""
    template = manifest["template"]
    start, sep = template["start"][0], template["end"][0]
    doubled = len(template["middle"]) == 2  # </s></s>: an empty input between the two
    types = "token_type_ids" in manifest["inputs"]
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    queries = tokenizer.encode_batch(frame["query"].tolist(), add_special_tokens=False)
    titles = tokenizer.encode_batch(frame["title"].tolist(), add_special_tokens=False)
    feeds = []
    for q, t in zip(queries, titles, strict=True):
        q_ids, t_ids = embed_tokens(q.ids, query_tokens), embed_tokens(t.ids, length)
        parts = (q_ids, EMPTY, t_ids) if doubled else (q_ids, t_ids)
        feed = {
            "input_ids": token_input_ids(length, *parts, start=start, sep=sep),
            "attention_mask": token_attention_mask(length, *parts),
        }
        if types:
            feed["token_type_ids"] = token_type_ids(length, q_ids, t_ids)
        feeds.append(feed)
    return feeds


def _same_tokens(feed: dict[str, np.ndarray], row: pd.Series) -> bool:
    n = int(feed["attention_mask"].sum())
    return all(
        feed[name][0, :n].tolist() == list(row[name])
        for name in ("input_ids", "token_type_ids")
        if name in feed
    )


def _same_order(frame: pd.DataFrame, a: np.ndarray, b: np.ndarray) -> float:
    """Share of queries whose candidates both score vectors put in the same order."""
    same = [
        np.array_equal(np.argsort(-a[idx], kind="stable"), np.argsort(-b[idx], kind="stable"))
        for idx in frame.groupby("query", sort=False).indices.values()
    ]
    return float(np.mean(same))


def vespa_gate(
    *,
    session: ort.InferenceSession,
    pipeline_scores: np.ndarray,
    tokenizer_json: Path,
    frame: pd.DataFrame,
    params: VespaParams,
    length: int,
    k: int,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Score `frame` from Vespa-built inputs with the packaged model's `session` against the
    scores the pipeline gave it; fail past `params.atol` on pairs whose tokens agree."""
    feeds = vespa_feeds(
        tokenizer_json,
        frame,
        length=length,
        query_tokens=params.query_tokens,
        manifest=manifest,
    )
    # One pair per run, as Vespa's global phase evaluates one hit at a time.
    vespa = np.array(
        [relevance_scores(ort_logits(session, f))[0] for f in tqdm(feeds, desc="vespa inputs")],
        dtype=np.float64,
    )
    pipeline = np.asarray(pipeline_scores, dtype=np.float64)
    same = np.array(
        [_same_tokens(f, row) for f, (_, row) in zip(feeds, frame.iterrows(), strict=True)]
    )
    diff = np.abs(vespa - pipeline)
    report = {
        "model": params.model,
        "pairs": len(frame),
        "same_tokens": int(same.sum()),
        "tokens_differ": int((~same).sum()),
        "max_abs_diff_same_tokens": float(diff[same].max()) if same.any() else 0.0,
        "max_abs_diff": float(diff.max()),
        f"ndcg@{k}_pipeline": frame_ranking(frame, pipeline, k)[f"ndcg@{k}"],
        f"ndcg@{k}_vespa": frame_ranking(frame, vespa, k)[f"ndcg@{k}"],
        "queries_same_order": _same_order(frame, pipeline, vespa),
        "atol": params.atol,
    }
    log.info(
        "vespa inputs: %d of %d pairs same tokens, max |diff| %.2e; nDCG@%d %.4f vs %.4f",
        report["same_tokens"],
        report["pairs"],
        report["max_abs_diff_same_tokens"],
        k,
        report[f"ndcg@{k}_vespa"],
        report[f"ndcg@{k}_pipeline"],
    )
    if report["max_abs_diff_same_tokens"] > params.atol:
        raise ExportError(
            f"vespa gate failed: scores from Vespa-built inputs differ by "
            f"{report['max_abs_diff_same_tokens']:.2e} > vespa.atol {params.atol} on pairs "
            "with the same tokens"
        )
    return report
