"""The ranking objectives (ranker/model/losses.py) and their groups (ranker/model/groups.py):
values held to hand computation and to sentence-transformers' RankNetLoss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ranker.model.groups import GroupDataset, build_groups, group_collator
from ranker.model.losses import ListwiseLoss, PairwiseLoss, group_loss


def _t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_listwise_binary_group_is_cross_entropy_of_the_relevant_pair() -> None:
    value = ListwiseLoss()(_t([[2.0, 1.0, 0.0]]), torch.tensor([[1, 0, 0]]))
    expected = math.log(math.e**2 + math.e + 1) - 2  # -log softmax(2) = 0.40761
    assert value.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(0.407606, abs=1e-6)


def test_listwise_graded_targets_are_normalised_gains() -> None:
    # gains 2^2-1 = 3 and 2^1-1 = 1 of 4: targets 0.75 and 0.25; equal scores: log 3 each.
    value = ListwiseLoss()(_t([[0.0, 0.0, 0.0]]), torch.tensor([[2, 1, 0]]))
    assert value.item() == pytest.approx(math.log(3), abs=1e-6)
    scores = [1.5, -0.5, 0.25]
    logz = math.log(sum(math.exp(s) for s in scores))
    expected = -(0.75 * (scores[0] - logz) + 0.25 * (scores[1] - logz))
    value = ListwiseLoss()(_t([scores]), torch.tensor([[2, 1, 0]]))
    assert value.item() == pytest.approx(expected, abs=1e-6)


def test_listwise_ignores_padding_and_averages_groups() -> None:
    padded = ListwiseLoss()(
        _t([[2.0, 1.0, 100.0], [0.0, 0.0, 0.0]]), torch.tensor([[1, 0, -1], [2, 1, 0]])
    )
    first = math.log(math.e**2 + math.e) - 2  # the padded slot's score 100 is not read
    assert padded.item() == pytest.approx((first + math.log(3)) / 2, abs=1e-6)


def test_pairwise_is_ranknet_over_ordered_pairs() -> None:
    value = PairwiseLoss()(_t([[1.0, 0.0, 3.0]]), torch.tensor([[2, 1, 0]]))
    # pairs (0,1) d=1, (0,2) d=-2, (1,2) d=-3: mean of softplus(-d)
    expected = (_softplus(-1) + _softplus(2) + _softplus(3)) / 3
    assert value.item() == pytest.approx(expected, abs=1e-6)
    assert expected == pytest.approx(1.829592, abs=1e-6)
    # equal grades make no pair; padding makes none either
    tied = PairwiseLoss()(_t([[1.0, 0.0, 3.0, 9.0]]), torch.tensor([[1, 1, 0, -1]]))
    # pairs (0,2) d=-2 and (1,2) d=-3 only
    assert tied.item() == pytest.approx((_softplus(2) + _softplus(3)) / 2, abs=1e-6)


def test_losses_pull_the_right_way() -> None:
    """A gradient step raises the relevant pair's score and lowers the others'."""
    for loss in (ListwiseLoss(), PairwiseLoss()):
        scores = torch.zeros(1, 4, requires_grad=True)
        loss(scores, torch.tensor([[2, 1, 0, 0]])).backward()
        grad = scores.grad[0]
        assert grad[0] < 0 and grad[2] > 0 and grad[3] > 0, type(loss).__name__
        assert grad[0] < grad[1] < grad[2], type(loss).__name__


class _Stub(torch.nn.Module):
    """A one-logit CrossEncoder stand-in: document "d<i>" scores table[i]."""

    num_labels = 1
    device = torch.device("cpu")

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table

    def preprocess(self, pairs, prompt=None, task=None) -> dict[str, torch.Tensor]:
        return {"idx": torch.tensor([int(doc[1:]) for _, doc in pairs])}

    def forward(self, tokens: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"scores": self.table[tokens["idx"]]}


def test_pairwise_equals_sentence_transformers_ranknet() -> None:
    losses = pytest.importorskip("sentence_transformers.cross_encoder.losses")
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 5, generator=gen)
    grades = torch.tensor([[3, 0, 1, 2, 0], [1, 0, 0, 0, 0], [2, 2, 1, 0, -1]])
    stub = _Stub(scores.flatten())
    theirs = losses.RankNetLoss(stub, reduction_log="natural")
    docs = [[f"d{g * 5 + j}" for j in range(5) if grades[g, j] >= 0] for g in range(len(grades))]
    labels = [grades[g][grades[g] >= 0].float() for g in range(len(grades))]
    expected = theirs([["q0", "q1", "q2"], docs], labels)
    ours = PairwiseLoss()(scores, grades)
    assert ours.item() == pytest.approx(expected.item(), abs=1e-6)


def test_group_loss_names() -> None:
    assert group_loss("pointwise") is None
    assert isinstance(group_loss("listwise"), ListwiseLoss)
    assert isinstance(group_loss("pairwise"), PairwiseLoss)


def test_groups_hold_an_anchor_and_lower_judged_pairs_seeded() -> None:
    queries = np.array(["a"] * 6 + ["b"] * 3 + ["c"] * 2)
    grades = np.array([2, 1, 0, 0, 0, 0, 1, 0, 0, 1, 1])
    labels = (grades >= 1).astype(int)
    groups = build_groups(queries, labels, grades, size=4, seed=0)
    again = build_groups(queries, labels, grades, size=4, seed=0)
    np.testing.assert_array_equal(groups, again)
    # a: anchors rows 0 (grade 2) and 1 (grade 1); b: row 6; c has nothing judged lower.
    assert groups[:, 0].tolist() == [0, 1, 6]
    for group in groups:
        members = group[group >= 0]
        anchor, rest = members[0], members[1:]
        assert (queries[rest] == queries[anchor]).all()
        assert (grades[rest] < grades[anchor]).all()
        assert len(set(rest)) == len(rest)
    # b has 2 negatives for 3 slots: padded with -1
    assert groups[2].tolist() == [6, 7, 8, -1]
    assert set(groups[0][1:]) <= {1, 2, 3, 4, 5}, "a grade-1 pair ranks below a grade-2 anchor"
    assert not (set(groups[1][1:]) & {0, 1}), "nothing at or above the anchor's grade"


def test_group_draw_changes_with_the_seed() -> None:
    queries = np.array(["a"] * 40)
    grades = np.array([1] + [0] * 39)
    draws = {tuple(build_groups(queries, grades, grades, size=4, seed=s)[0]) for s in range(5)}
    assert len(draws) > 1


def test_collator_flattens_members_and_places_scores() -> None:
    class Pairs(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int) -> dict:
            return {"features": torch.full((2,), float(i)), "labels": int(i == 0)}

    from transformers import default_data_collator

    groups = np.array([[0, 1, 2], [3, 4, -1]])
    ds = GroupDataset(Pairs(), groups, np.array([1, 0, 0, 1, 0]))
    collate = group_collator(default_data_collator)
    batch = collate([ds[0], ds[1]])
    assert batch["features"][:, 0].tolist() == [0, 1, 2, 3, 4]
    assert "labels" not in batch, "members carry no classifier labels"
    assert batch["group_grades"].tolist() == [[1, 0, 0], [1, 0, -1]]
    assert batch["group_slots"].tolist() == [0, 1, 2, 3, 4]
    assert ds.pair_count() == 5
    # evaluation batches (single pairs) pass through as pairs
    plain = collate([Pairs()[0], Pairs()[1]])
    assert "group_grades" not in plain and plain["labels"].tolist() == [1, 0]
