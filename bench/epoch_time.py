"""Seconds per training epoch of each row of bench/objectives.py, on a quiet machine: the
train stage's own `train_model` for one epoch on the sample's training split (its first
`queries` training queries, scaled to the whole split), the row's params applied. The
cross-validation runs' own wall times depend on whatever else the machine did meanwhile;
these are measured one after another, nothing else running."""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT


class _Trained(logging.Handler):
    """The train stage's own measure: its "trained in X s" line."""

    def __init__(self, seen: list[float]) -> None:
        super().__init__()
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        found = re.match(r"trained in ([0-9.]+) s", record.getMessage())
        if found:
            self.seen.append(float(found.group(1)))


def epoch_seconds(changes: dict[str, dict[str, Any]], *, queries: int = 10) -> dict[str, float]:
    """{pairs: the training split's pairs in an epoch (a group loss: its groups' pairs),
    seconds: one epoch over them}, for the default params with `changes`."""
    from ranker.config import parse_params
    from ranker.data.fields import joined
    from ranker.data.sample import generate_sample
    from ranker.data.split import split_pairs
    from ranker.model.encode import encode_frame
    from ranker.model.groups import build_groups
    from ranker.model.tokenizer import load_tokenizer
    from ranker.model.train import train_model

    raw = yaml.safe_load((ROOT / "params.yaml").read_text("utf-8"))
    for section, values in changes.items():
        raw[section].update(values)
    raw["train"]["epochs"] = 1.0
    params = parse_params(raw)
    fields = params.data.text_fields
    sample = generate_sample(
        params.data.sample_pairs_per_query, params.data.sample_seed, abstracts=fields != "title"
    )
    sample = next(joined([sample], fields))
    sample["grade"] = sample["label"]
    parts = split_pairs(sample, params.split)
    train = parts["train"]
    chosen = sorted(train["query"].unique())[:queries]
    subset = train[train["query"].isin(chosen)]
    tokenizer = load_tokenizer(params.model.name)
    encoded = encode_frame(subset, tokenizer, params.encode, desc="encode").to_pandas()
    valid = encode_frame(parts["valid"].head(64), tokenizer, params.encode).to_pandas()
    seen: list[float] = []
    handler = _Trained(seen)
    logger = logging.getLogger("ranker.model.train")
    # Without a configured root logger the INFO line is never made, let alone handled.
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        with tempfile.TemporaryDirectory(prefix="epoch-time-") as tmp:
            train_model(
                model_name=params.model.name, tokenizer=tokenizer, train_df=encoded,
                valid_df=valid, params=params.train, run=params.run, encode=params.encode,
                k=params.evaluate.k, out_dir=Path(tmp) / "model", live_dir=Path(tmp) / "live",
                metrics_path=Path(tmp) / "train.json",
            )  # fmt: skip
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    wall = seen[0]  # the Trainer's epoch and its validation, not the model's loading

    def pairs(frame: Any) -> int:
        if params.train.loss == "pointwise":
            return len(frame)
        groups = build_groups(
            frame["query"].to_numpy(), frame["label"].to_numpy(), frame["grade"].to_numpy(),
            size=params.train.group_size, seed=params.run.seed,
        )  # fmt: skip
        return int((groups >= 0).sum())

    return {"pairs": pairs(train), "seconds": wall * pairs(train) / pairs(subset)}
