"""Model behaviour on the real pretrained model (slow: it fine-tunes all-MiniLM-L6-v2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ranker.config import PACKAGED_MODEL_ID, EncodeParams, RunParams, SplitParams, TrainParams
from ranker.data.sample import generate_sample
from ranker.data.split import split_pairs
from ranker.model.batches import make_collator
from ranker.model.encode import encode_frame
from ranker.model.modeling import load_classifier, load_tokenizer
from ranker.model.predict import predict_scores
from ranker.model.train import train_model

pytestmark = pytest.mark.slow


def test_relevant_titles_outscore_irrelevant_after_training(tmp_path: Path) -> None:
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    encode = EncodeParams()
    train_df, valid_df = split_pairs(generate_sample(), SplitParams())
    train_enc = encode_frame(train_df, tokenizer, encode).to_pandas()
    valid_enc = encode_frame(valid_df, tokenizer, encode).to_pandas()
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
    scores = predict_scores(model, valid_enc, make_collator(tokenizer, encode), 64)
    wins = []
    for _, idx in valid_enc.groupby("query").indices.items():
        labels, s = valid_enc["label"].to_numpy()[idx], scores[idx]
        # Probability that a random relevant title outscores a random irrelevant one.
        pairs = s[labels == 1][:, None] - s[labels == 0][None, :]
        wins.append(float((pairs > 0).mean()))
    assert np.mean(np.array(wins) > 0.5) >= 0.7, wins
    assert np.mean(wins) > 0.65, wins
