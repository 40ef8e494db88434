"""Frozen-base training (the reference recipe): only the classifier head learns, so the
encoder's pooled output can be computed once and cached instead of every step."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import torch
from torch.utils.data import Dataset

from ranker.errors import ParamError
from ranker.model.batches import length_sorted_batches
from ranker.model.families import model_inputs
from ranker.model.modeling import autocast_dtype


class FeatureDataset(Dataset):
    """Cached pooled encoder features [n, hidden] and labels, for head-only training."""

    def __init__(self, features: torch.Tensor, labels: list[int]) -> None:
        self._features = features
        self._labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self._features[i], "labels": self._labels[i]}


class HeadOnly(torch.nn.Module):
    """The model's own dropout + classifier, fed cached features; shares their weights."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.dropout = model.dropout
        self.classifier = model.classifier

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        logits = self.classifier(self.dropout(features))  # [batch, 2]
        out: dict[str, Any] = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


@torch.inference_mode()
def pooled_features(
    model: torch.nn.Module,
    frame: pd.DataFrame | pa.Table,
    collator: Any,
    batch_size: int,
    precision: str = "fp32",
) -> torch.Tensor:
    """The frozen encoder's pooled output [n, hidden]: the classifier's input, computed once."""
    model.eval()
    device = next(model.parameters()).device.type
    out = torch.empty(len(frame), model.config.hidden_size)
    dtype = autocast_dtype(precision)
    # The same autocast the Trainer would have run the encoder under, had it recomputed it.
    with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        batches = length_sorted_batches(
            frame, collator, batch_size, "cache features", model_inputs(model.config)
        )
        for idx, inputs in batches:
            out[torch.from_numpy(idx)] = model.base_model(**inputs).pooler_output.float()
    return out


def check_feature_cache(model: torch.nn.Module) -> None:
    """train.cache_features caches the pooler's output: BERT has one, RoBERTa-style heads
    read [CLS] from the last layer instead."""
    if not supports_feature_cache(model):
        raise ParamError(
            f"train.cache_features: {type(model).__name__} has no pooler + classifier head "
            "to cache for; set train.cache_features: false"
        )


def supports_feature_cache(model: torch.nn.Module) -> bool:
    return (
        hasattr(model, "classifier")
        and hasattr(model, "dropout")
        and hasattr(model.base_model, "pooler")
        and model.base_model.pooler is not None
    )


def freeze_base(model: torch.nn.Module) -> int:
    """Freeze the encoder (the reference recipe); return the number of trainable parameters."""
    for p in model.base_model.parameters():
        p.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def freeze(model: torch.nn.Module, *, base: bool, word_embeddings: bool) -> int:
    """Apply train.freeze_base / train.freeze_word_embeddings; the trainable parameter count.

    The word-embedding matrix is half of MiniLM's weights, yet a batch touches a few hundred
    of its 30k rows: frozen, a step skips its dense gradient, its AdamW update and its share
    of gradient clipping (docs/performance.md has the time and quality measured)."""
    if base:
        return freeze_base(model)
    if word_embeddings:
        model.get_input_embeddings().weight.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
