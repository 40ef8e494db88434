"""The last layer computed for [CLS] only: the same logits and gradients as the full layer,
the same weights on disk, and the full layer back after an export."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from ranker.model.cls_only import cls_only_last_layer, cls_only_while, is_cls_only


def tiny(model_type: str, attn: str = "sdpa", dropout: float = 0.1) -> torch.nn.Module:
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        model_type,
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
        attn_implementation=attn,
        initializer_range=0.5,  # logits that move when the attended tokens do
    )
    return AutoModelForSequenceClassification.from_config(config)


def batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, 120, (4, 12), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0  # padded rows: their keys must stay masked for the [CLS] query
    mask[3, 3:] = 0
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", ["bert", "roberta", "xlm-roberta", "electra"])
def test_same_logits_as_the_full_last_layer(model_type: str, attn: str) -> None:
    full = tiny(model_type, attn).eval()
    cls = copy.deepcopy(full)
    assert cls_only_last_layer(cls) and is_cls_only(cls) and not is_cls_only(full)
    with torch.inference_mode():
        expected, got = full(**batch()).logits, cls(**batch()).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # Padding matters: a mask lost on the way to the [CLS] query would change these rows.
    with torch.inference_mode():
        unmasked = cls(input_ids=batch()["input_ids"]).logits
    assert (unmasked[[1, 3]] - expected[[1, 3]]).abs().min() > 1e-3


def test_same_gradients_in_training() -> None:
    """Without dropout (its masks are drawn for fewer elements, so they differ by design),
    a training step sees the same loss and the same gradient for every weight."""
    full = tiny("bert", dropout=0.0).train()
    cls = copy.deepcopy(full)
    cls_only_last_layer(cls)
    labels = torch.tensor([0, 1, 1, 0])
    for model in (full, cls):
        model(**batch(), labels=labels).loss.backward()
    # Float sums in another order: equal up to a small fraction of the largest gradient.
    scale = max(p.grad.abs().max() for p in full.parameters() if p.grad is not None)
    for (name, a), (_, b) in zip(full.named_parameters(), cls.named_parameters(), strict=True):
        if a.grad is None:
            # The last layer's outputs at other positions fed nothing: no gradient either way.
            assert b.grad is None or not b.grad.any(), name
            continue
        assert (b.grad - a.grad).abs().max() <= 3e-5 * scale, name


def test_saved_weights_are_a_plain_checkpoint(tmp_path: Path) -> None:
    model = tiny("bert").eval()
    cls_only_last_layer(model)
    model.save_pretrained(tmp_path)
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert not is_cls_only(plain)
    assert plain.state_dict().keys() == model.state_dict().keys()
    with torch.inference_mode():
        torch.testing.assert_close(
            plain(**batch()).logits, model(**batch()).logits, rtol=1e-5, atol=1e-5
        )


def test_other_architectures_are_left_whole() -> None:
    torch.manual_seed(0)
    config = AutoConfig.for_model(
        "distilbert", vocab_size=120, dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=2
    )
    model = AutoModelForSequenceClassification.from_config(config)
    assert not cls_only_last_layer(model) and not is_cls_only(model)


def test_cls_only_while_restores_the_layer_unless_it_was_patched_before() -> None:
    model = tiny("bert")
    with cls_only_while(model) as patched:
        assert patched and is_cls_only(model)
    assert not is_cls_only(model)
    with cls_only_while(model, enabled=False) as patched:
        assert not patched and not is_cls_only(model)
    cls_only_last_layer(model)
    with cls_only_while(model) as patched:
        assert patched
    assert is_cls_only(model)
