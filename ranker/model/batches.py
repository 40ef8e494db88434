"""Encoded pairs as a torch Dataset, and per-batch padding."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ranker.config import EncodeParams
from ranker.model.encode import FEATURES
from ranker.serve.contract import length_batches


class PairDataset(Dataset):
    """Encoded pairs over the token buffers Arrow read from Parquet, zero-copy: one copy of
    the ids (4 bytes a token, one buffer per row group) instead of a Python list per row
    (tens of bytes a token). `DataCollatorWithPadding` pads each batch. An item holds
    `inputs`, the model's own (`ranker.model.families.model_inputs`): DistilBERT's forward
    takes no token types."""

    def __init__(self, data: pd.DataFrame | pa.Table, inputs: Sequence[str] = FEATURES) -> None:
        self.inputs = tuple(inputs)
        table = (
            data
            if isinstance(data, pa.Table)
            else pa.Table.from_pandas(data[["label", *FEATURES]], preserve_index=False)
        )
        if len({tuple(len(c) for c in table.column(k).chunks) for k in FEATURES}) > 1:
            table = table.combine_chunks()  # features chunked differently: align them once
        # Per row group: (values, offsets) of each feature. A ListArray's offsets index its
        # whole child array, also for a slice, so both are read as they are.
        self._chunks = [
            {key: (chunk.values.to_numpy(), chunk.offsets.to_numpy()) for key, chunk in row.items()}
            for row in (
                dict(zip(FEATURES, group, strict=True))
                for group in zip(*(table.column(k).chunks for k in FEATURES), strict=True)
            )
        ]
        sizes = [len(c["input_ids"][1]) - 1 for c in self._chunks]
        self._starts = np.cumsum([0, *sizes])
        self._labels = table.column("label").to_numpy().astype(np.int64)

    def __len__(self) -> int:
        return len(self._labels)

    def lengths(self) -> np.ndarray:
        return np.concatenate(
            [np.diff(c["input_ids"][1]) for c in self._chunks] or [np.zeros(0, np.int64)]
        )

    def features(self, i: int) -> dict[str, list[int]]:
        c = int(np.searchsorted(self._starts, i, side="right")) - 1
        j = i - int(self._starts[c])
        out = {}
        for key, (values, offsets) in self._chunks[c].items():
            out[key] = values[offsets[j] : offsets[j + 1]].tolist()
        return out

    def __getitem__(self, i: int) -> dict[str, Any]:
        features = self.features(i)
        return {**{k: features[k] for k in self.inputs}, "labels": int(self._labels[i])}


def make_collator(tokenizer: Any, encode: EncodeParams) -> Any:
    from transformers import DataCollatorWithPadding

    if encode.padding == "max_length":
        return DataCollatorWithPadding(
            tokenizer, padding="max_length", max_length=encode.max_length
        )
    return DataCollatorWithPadding(tokenizer, padding="longest")


def length_sorted_batches(
    frame: pd.DataFrame | pa.Table,
    collator: Any,
    batch_size: int,
    desc: str,
    inputs: Sequence[str] = FEATURES,
) -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
    """(row indices, padded `inputs`) in length order, so little compute goes to padding."""
    ds = PairDataset(frame)
    batches = length_batches(ds.lengths(), batch_size)
    total = -(-len(ds) // batch_size)
    for idx in tqdm(batches, total=total, desc=desc, unit="batch"):
        batch = collator([ds.features(i) for i in idx])
        yield idx, {k: batch[k] for k in inputs}


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
