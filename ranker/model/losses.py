"""The ranking objectives of `train.loss` over groups of one query's pairs.

A group is [groups, size] relevance scores (`ranker.serve.contract.relevance_scores`:
logit(relevant) - logit(irrelevant), what the ONNX contract serves) with their judgement
grades; a grade below 0 marks a padding slot, which no loss reads. `pointwise` is the
classifier's own 2-class cross-entropy on single pairs and needs no group.

Why not sentence-transformers' losses: they take text and tokenize inside the loss
(`model.preprocess`) for a one-logit `CrossEncoder`, while this pipeline feeds token ids
encoded once by the encode stage (a cached, hashed DVC output) to a 2-logit classifier
whose head the ONNX contract and gates read. What the losses compute is small; the tests
hold these to hand-computed values and to sentence-transformers' RankNetLoss.
"""

from __future__ import annotations

import torch
from torch import nn

LOSSES = ("pointwise", "listwise", "pairwise")


class ListwiseLoss(nn.Module):
    """Softmax cross-entropy over a group against its gains, 2^grade - 1, normalised:
    ListNet's top-one probability with nDCG's gains. With binary labels (one relevant
    document and negatives) it is the group cross-entropy FlagEmbedding's reranker trains
    with; with 0-3 grades a grade-3 document is pulled 7 times as hard as a grade-1 one.
    (sentence-transformers' ListNetLoss takes softmax(grades) as the target instead: a
    binary group of 1 + 7 then asks only 28% of the probability for its relevant
    document.) Groups without a relevant document add nothing."""

    def forward(self, scores: torch.Tensor, grades: torch.Tensor) -> torch.Tensor:
        valid = grades >= 0
        gains = torch.where(valid, torch.exp2(grades.clamp(min=0).float()) - 1, 0.0)
        total = gains.sum(dim=1, keepdim=True)
        has = total.squeeze(1) > 0
        target = gains / total.clamp(min=1e-12)
        logp = torch.log_softmax(scores.float().masked_fill(~valid, float("-inf")), dim=1)
        per_group = -(target * logp.masked_fill(~valid, 0.0)).sum(dim=1)
        return per_group[has].sum() / has.sum().clamp(min=1)


class PairwiseLoss(nn.Module):
    """RankNet: the mean over a group's ordered pairs (grade_i > grade_j) of
    -log sigmoid(s_i - s_j), the logistic loss of ranking i above j. Equal to
    sentence-transformers' RankNetLoss with natural logarithms, sigma 1 and no cutoff."""

    def forward(self, scores: torch.Tensor, grades: torch.Tensor) -> torch.Tensor:
        valid = grades >= 0
        g = grades.float()
        ordered = (g[:, :, None] > g[:, None, :]) & valid[:, :, None] & valid[:, None, :]
        s = scores.float()
        diffs = s[:, :, None] - s[:, None, :]
        losses = -nn.functional.logsigmoid(diffs)[ordered]
        return losses.sum() / max(losses.numel(), 1)


def group_loss(name: str) -> nn.Module | None:
    """The module of `train.loss`; None for `pointwise` (the classifier's own loss)."""
    if name == "pointwise":
        return None
    return {"listwise": ListwiseLoss, "pairwise": PairwiseLoss}[name]()
