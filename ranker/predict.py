"""Batch scoring of encoded pairs with a PyTorch cross-encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ranker.encode import FEATURES
from ranker.modeling import relevance_scores


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, frame: pd.DataFrame, collator: Any, batch_size: int, desc: str = "score"
) -> np.ndarray:
    """Logits [n, 2] in the frame's row order; batches are length-sorted to cut padding."""
    model.eval()
    lengths = frame["input_ids"].map(len).to_numpy()
    order = np.argsort(lengths, kind="stable")
    out = np.empty((len(frame), 2), dtype=np.float32)
    columns = {k: [x.tolist() for x in frame[k]] for k in FEATURES}
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
        idx = order[start : start + batch_size]
        batch = collator([{k: columns[k][i] for k in FEATURES} for i in idx])
        logits = model(**{k: batch[k] for k in FEATURES}).logits
        out[idx] = logits.float().numpy()
    return out


def predict_scores(
    model: torch.nn.Module, frame: pd.DataFrame, collator: Any, batch_size: int, desc: str = "score"
) -> np.ndarray:
    return relevance_scores(predict_logits(model, frame, collator, batch_size, desc))
