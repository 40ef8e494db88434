"""Encoded pairs as a torch Dataset, and per-batch padding."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ranker.config import EncodeParams
from ranker.model.encode import FEATURES


class PairDataset(Dataset):
    """Encoded pairs over flat token buffers, as Arrow reads them from Parquet: one copy of
    the ids (a few bytes a token) instead of a Python list per row (tens of bytes a token).
    `DataCollatorWithPadding` pads each batch."""

    def __init__(self, data: pd.DataFrame | pa.Table) -> None:
        table = (
            data
            if isinstance(data, pa.Table)
            else pa.Table.from_pandas(data[["label", *FEATURES]], preserve_index=False)
        )
        self._values, self._offsets = {}, {}
        for key in FEATURES:
            column = table.column(key).combine_chunks()
            offsets = column.offsets.to_numpy()
            self._offsets[key] = offsets - offsets[0]
            self._values[key] = column.flatten().to_numpy()
        self._labels = table.column("label").to_numpy().astype(np.int64)

    def __len__(self) -> int:
        return len(self._labels)

    def lengths(self) -> np.ndarray:
        return np.diff(self._offsets["input_ids"])

    def features(self, i: int) -> dict[str, list[int]]:
        out = {}
        for key, values in self._values.items():
            offsets = self._offsets[key]
            out[key] = values[offsets[i] : offsets[i + 1]].tolist()
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.features(i), "labels": int(self._labels[i])}


def make_collator(tokenizer: Any, encode: EncodeParams) -> Any:
    from transformers import DataCollatorWithPadding

    if encode.padding == "max_length":
        return DataCollatorWithPadding(
            tokenizer, padding="max_length", max_length=encode.max_length
        )
    return DataCollatorWithPadding(tokenizer, padding="longest")


def length_sorted_batches(
    frame: pd.DataFrame | pa.Table, collator: Any, batch_size: int, desc: str
) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """(row indices, padded model inputs) in length order, so little compute goes to padding."""
    ds = PairDataset(frame)
    order = np.argsort(ds.lengths(), kind="stable")
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
        idx = order[start : start + batch_size]
        batch = collator([ds.features(i) for i in idx])
        yield idx, {k: batch[k] for k in FEATURES}


def ordered_eval(trainer_cls: type) -> type:
    """The Trainer, evaluating rows in dataset order.

    With group_by_length, transformers v5 also groups *evaluation* batches by length
    (LengthGroupedSampler in `_get_eval_sampler`), so predictions come back permuted and
    per-query metrics would pair scores with other rows' queries and grades: the best
    epoch was picked on shuffled groups until this. The validation frame is sorted by
    length instead (`by_length`), which keeps the padding saving in a known order."""
    from torch.utils.data import SequentialSampler

    class OrderedEvalTrainer(trainer_cls):  # type: ignore[misc, valid-type]
        def _get_eval_sampler(self, eval_dataset: Any) -> Any:
            return SequentialSampler(eval_dataset)

    return OrderedEvalTrainer


def by_length(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by token count (stable), so sequential evaluation batches pad little."""
    order = np.argsort(frame["input_ids"].map(len).to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)
