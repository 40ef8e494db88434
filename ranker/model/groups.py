"""Training groups for the ranking objectives (`train.loss: listwise | pairwise`).

A group is one relevant pair (the anchor) and up to `train.group_size - 1` pairs of the
same query judged lower (lower grade: graded data ranks a grade-1 document below a grade-2
anchor; binary data, its negatives), drawn once with `run.seed`: every epoch sees the same
groups in a new order, as sentence-transformers' mined datasets do, so a resumed run and a
rerun draw identically. Members are the encoded pairs themselves (or their cached features
with train.freeze_base), so a group costs `size` forward passes and nothing is re-tokenized.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ranker.serve.contract import relevance_scores

log = logging.getLogger(__name__)


def build_groups(
    queries: np.ndarray, labels: np.ndarray, grades: np.ndarray, *, size: int, seed: int
) -> np.ndarray:
    """[groups, size] row indices, -1 where a query had fewer lower-judged pairs than
    size - 1. A relevant pair with nothing judged below it makes no group."""
    rng = np.random.default_rng(seed)
    codes, _ = pd.factorize(queries, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    groups: list[np.ndarray] = []
    lonely = 0
    for rows in np.split(order, bounds):
        for anchor in rows[labels[rows] == 1]:
            below = rows[grades[rows] < grades[anchor]]
            if not below.size:
                lonely += 1
                continue
            take = rng.choice(below, size=min(size - 1, below.size), replace=False)
            group = np.full(size, -1, dtype=np.int64)
            group[0], group[1 : 1 + take.size] = anchor, np.sort(take)
            groups.append(group)
    if lonely:
        log.info("%d relevant pairs have no lower-judged pair of their query: no group", lonely)
    if not groups:
        return np.empty((0, size), dtype=np.int64)
    out = np.stack(groups)
    short = int((out[:, -1] < 0).sum())
    log.info(
        "%d training groups of up to %d pairs (%d of them shorter: their query has fewer "
        "lower-judged pairs)",
        len(out),
        size,
        short,
    )
    return out


class GroupDataset(Dataset):
    """Groups over a dataset of pairs (`PairDataset` or cached features): an item is its
    members' inputs and grades, padded with grade -1."""

    def __init__(self, pairs: Dataset, groups: np.ndarray, grades: np.ndarray) -> None:
        self.pairs, self.groups = pairs, groups
        self._grades = np.where(groups >= 0, grades[np.maximum(groups, 0)], -1)

    def __len__(self) -> int:
        return len(self.groups)

    def pair_count(self) -> int:
        return int((self.groups >= 0).sum())

    def __getitem__(self, g: int) -> dict[str, Any]:
        members = []
        for i in self.groups[g]:
            if i < 0:
                continue
            item = dict(self.pairs[int(i)])
            item.pop("labels", None)  # the group's loss, not the classifier's, is trained
            members.append(item)
        return {"members": members, "grades": self._grades[g].tolist()}


def group_collator(pairs_collator: Callable[[list[dict[str, Any]]], Any]) -> Callable:
    """Batches of groups (and, as they are, of single pairs): their members flattened into one batch of pairs (padded by the
    pairs' own collator), `group_grades` [groups, size], and `group_slots`, where each
    member's score goes in that matrix."""

    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        if "members" not in items[0]:
            return pairs_collator(items)  # evaluation: single pairs
        grades = torch.tensor([it["grades"] for it in items], dtype=torch.long)
        members = [m for it in items for m in it["members"]]
        batch = dict(pairs_collator(members))
        batch["group_grades"] = grades
        batch["group_slots"] = torch.flatten(grades >= 0).nonzero().squeeze(1)
        return batch

    return collate


def grouped(trainer_cls: type, loss: torch.nn.Module) -> type:
    """The Trainer, training on groups with `loss`; evaluation batches (single pairs, with
    labels) keep the classifier's cross-entropy, so validation loss reads the same under
    every objective."""

    class GroupTrainer(trainer_cls):  # type: ignore[misc, valid-type]
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            if "group_grades" not in inputs:
                return super().compute_loss(
                    model, inputs, return_outputs=return_outputs,
                    num_items_in_batch=num_items_in_batch,
                )  # fmt: skip
            inputs = dict(inputs)
            grades, slots = inputs.pop("group_grades"), inputs.pop("group_slots")
            outputs = model(**inputs)
            logits = outputs["logits"]
            flat = torch.zeros(grades.numel(), dtype=torch.float32, device=logits.device)
            flat = flat.index_put((slots,), relevance_scores(logits).float())
            value = loss(flat.view(grades.shape), grades.to(logits.device))
            return (value, outputs) if return_outputs else value

    return GroupTrainer
