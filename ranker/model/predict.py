"""Batch scoring of encoded pairs with a PyTorch cross-encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from ranker.model.batches import length_sorted_batches
from ranker.model.families import model_inputs
from ranker.serve.contract import relevance_scores


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, frame: pd.DataFrame, collator: Any, batch_size: int, desc: str = "score"
) -> np.ndarray:
    """Logits [n, labels] in the frame's row order."""
    model.eval()
    out = np.empty((len(frame), model.config.num_labels), dtype=np.float32)
    names = model_inputs(model.config)
    for idx, inputs in length_sorted_batches(frame, collator, batch_size, desc, names):
        out[idx] = model(**inputs).logits.float().numpy()
    return out


def predict_scores(
    model: torch.nn.Module, frame: pd.DataFrame, collator: Any, batch_size: int, desc: str = "score"
) -> np.ndarray:
    return relevance_scores(predict_logits(model, frame, collator, batch_size, desc))
