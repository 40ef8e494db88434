"""The one-logit head: the two-logit classifier collapsed, exactly.

The pipeline's score is logit(relevant) - logit(irrelevant) = (w1 - w0)·h + (b1 - b0), a
linear function of the same h: one output row of weights w1 - w0 and bias b1 - b0 gives
that score as the model's only logit. Rerankers are served that way: sentence-transformers'
`CrossEncoder.rank()`, text-embeddings-inference's `/rerank` and Vespa's cross-encoder
applications read one logit.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import pandas as pd
import torch

from ranker.errors import ExportError

log = logging.getLogger(__name__)

# Raw logits, not a sigmoid: the score the pipeline evaluates and the ONNX model returns.
SENTENCE_TRANSFORMERS = {"activation_fn": "torch.nn.modules.linear.Identity"}


def _output_layer(model: torch.nn.Module) -> tuple[torch.nn.Module, str, torch.nn.Linear]:
    """The classifier's last Linear with `num_labels` outputs, and where it hangs."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.out_features == model.config.num_labels:
            found = name
    if found is None:
        raise ExportError(f"{type(model).__name__}: no classifier layer with 2 outputs found")
    parent_name, _, attr = found.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attr, getattr(parent, attr)


@torch.no_grad()
def collapse_to_one_logit(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with its 2-output classifier layer replaced by the 1-output difference,
    in place; its config says one label and sentence-transformers reads raw logits."""
    if model.config.num_labels != 2:
        raise ExportError(
            f"export.head: one_logit needs a 2-logit model, got {model.config.num_labels}"
        )
    parent, attr, layer = _output_layer(model)
    one = torch.nn.Linear(layer.in_features, 1, bias=layer.bias is not None)
    one = one.to(dtype=layer.weight.dtype, device=layer.weight.device)
    # float64 for the difference, so w1 - w0 is the nearest float32 to the exact one.
    one.weight.copy_((layer.weight[1:2].double() - layer.weight[0:1].double()).to(one.weight))
    if layer.bias is not None:
        one.bias.copy_((layer.bias[1:2].double() - layer.bias[0:1].double()).to(one.bias))
    setattr(parent, attr, one)
    model.config.num_labels = 1
    model.config.id2label = {0: "relevance"}
    model.config.label2id = {"relevance": 0}
    model.config.problem_type = "regression"
    model.config.sentence_transformers = dict(SENTENCE_TRANSFORMERS)
    log.info(
        "head collapsed to one logit: %s.%s is now %s -> 1",
        type(model).__name__,
        attr,
        layer.in_features,
    )
    return model


def one_logit_gate(
    model: torch.nn.Module, frame: pd.DataFrame, pad_id: int, *, atol: float
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The one-logit copy of `model`, if its scores on `frame` equal the two-logit model's
    within `atol` (else the stage fails); and the report."""
    from ranker.onnx.gates import frame_logits, ranking_scores, torch_logits

    two = ranking_scores(frame_logits(model, frame, pad_id, run=torch_logits))
    one_model = collapse_to_one_logit(copy.deepcopy(model))
    one = ranking_scores(frame_logits(one_model, frame, pad_id, run=torch_logits))
    diff = float(np.abs(one - two).max()) if len(two) else 0.0
    if diff > atol:
        raise ExportError(
            f"export.head: the one-logit model's scores differ from the two-logit model's by "
            f"{diff:.2e} > export.atol {atol:.0e}"
        )
    return one_model, {"logits": 1, "max_abs_diff": diff, "atol": atol, "passed": True}
