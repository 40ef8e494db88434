"""The benchmark's data and arithmetic (its timings are never asserted)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench.common import REFERENCE_SCALE_ROWS, reference_scale_set, title_lengths
from bench.flops import encoder_flops


def test_reference_scale_set_has_the_reference_size_and_schema() -> None:
    big = reference_scale_set()
    assert len(big) == REFERENCE_SCALE_ROWS == 55_000
    assert list(big.columns) == ["query", "title", "label"]
    assert big["query"].nunique() == 50
    assert set(big["label"]) == {0, 1}
    # Realistic titles: CORD-19's average about 11 words.
    assert 8 <= title_lengths(big)["generated_mean_words"] <= 16


def test_encoder_flops_counts_dense_layers_and_attention() -> None:
    config = SimpleNamespace(hidden_size=4, num_hidden_layers=1, intermediate_size=8)
    model = SimpleNamespace(config=config)
    # Per token: 2 x (Q, K, V, output 4x4 + two 4x8 FFN matmuls) = 2 x (64 + 64) = 256;
    # attention scores and weighted sum: 2 x 2 x seq x hidden per token.
    assert encoder_flops(model, batch=1, seq=3) == pytest.approx(3 * 256 + 2 * 2 * 3 * 3 * 4)
