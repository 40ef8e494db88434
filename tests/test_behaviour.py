"""Model behaviour on the real pretrained model (slow: it fine-tunes all-MiniLM-L6-v2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranker.config import PACKAGED_MODEL_ID, EncodeParams, RunParams, SplitParams, TrainParams
from ranker.data.sample import generate_sample
from ranker.data.split import split_pairs
from ranker.model.batches import make_collator
from ranker.model.behaviour import run_behaviour
from ranker.model.encode import encode_frame
from ranker.model.modeling import load_classifier
from ranker.model.predict import predict_scores
from ranker.model.tokenizer import load_tokenizer
from ranker.model.train import train_model

pytestmark = pytest.mark.slow


def test_relevant_titles_outscore_irrelevant_after_training(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    encode = EncodeParams()
    parts = split_pairs(generate_sample(), SplitParams())
    train_enc = encode_frame(parts["train"], tokenizer, encode).to_pandas()
    valid_enc = encode_frame(parts["valid"], tokenizer, encode).to_pandas()
    test_enc = encode_frame(parts["test"], tokenizer, encode).to_pandas()
    train_model(
        model_name=PACKAGED_MODEL_ID,
        tokenizer=tokenizer,
        train_df=train_enc,
        valid_df=valid_enc,
        params=TrainParams(epochs=2.0),
        run=RunParams(),
        encode=encode,
        k=10,
        out_dir=tmp_path / "model",
        live_dir=tmp_path / "live",
        metrics_path=tmp_path / "train.json",
    )
    model = load_classifier(str(tmp_path / "model"), 0)
    collator = make_collator(tokenizer, encode)
    # Queries neither training nor epoch selection saw.
    scores = predict_scores(model, test_enc, collator, 64)
    wins = []
    for _, idx in test_enc.groupby("query").indices.items():
        labels, s = test_enc["label"].to_numpy()[idx], scores[idx]
        # Probability that a random relevant title outscores a random irrelevant one.
        pairs = s[labels == 1][:, None] - s[labels == 0][None, :]
        wins.append(float((pairs > 0).mean()))
    # On queries it never saw, the 5-fold CV model's ROC-AUC spans 0.61-0.75 by fold (the
    # untuned model: 0.48-0.52, chance): most queries must be ranked better than chance.
    assert np.mean(np.array(wins) > 0.5) >= 0.6, wins
    assert np.mean(wins) > 0.57, wins

    summary, judged = run_behaviour(
        model=model,
        tokenizer=tokenizer,
        collator=collator,
        frame=test_enc,
        encode=encode,
        batch_size=64,
    )
    rates = {name: check["pass_rate"] for name, check in summary["checks"].items()}
    failures = judged[~judged["passed"]][["check", "query", "title", "score"]]
    # What the sample teaches (front matter is never relevant) carries over to junk it never
    # showed; the uncased model ignores case. Thresholds sit below the measured rates
    # (docs/evaluation.md), so a regression in the sample or the recipe fails here.
    assert rates["junk_title_irrelevant"] >= 0.9, failures.to_string()
    assert rates["case_change"] == 1.0, failures.to_string()
    assert rates["query_as_title"] >= 0.8, failures.to_string()
