"""The gates an exported model must pass before it is written: the contract (names, dtypes,
symbolic axes), parity with PyTorch, and a pair's score independent of its batch (int8's
own gate is in `int8.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import torch
from tqdm.auto import tqdm

from ranker.errors import ExportError
from ranker.evaluation.ranking import classification_metrics, frame_ranking
from ranker.model.families import model_inputs
from ranker.serve.contract import (
    ALL_INPUTS,
    AXES,
    OUTPUT,
    feeds,
    length_batches,
    pad_batch,
    relevance_scores,
)
from ranker.serve.runtime import inference_session

log = logging.getLogger(__name__)

PARITY_BATCHES = (1, 7, 64)


def check_contract(path: Path, inputs: tuple[str, ...], logits: int) -> None:
    """`onnx.checker` (full) plus exact names, dtypes and symbolic axes of the model's
    `inputs` and of the output's `logits` columns."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{path}: onnx.checker failed: {str(exc).splitlines()[0]}") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    got_inputs = [i.name for i in graph.input]
    if got_inputs != list(inputs):
        raise ExportError(f"{path}: inputs are {got_inputs}, expected {list(inputs)}")
    for value in graph.input:
        _check_tensor(path, value, onnx.TensorProto.INT64, list(AXES))
    outputs = [o.name for o in graph.output]
    if outputs != [OUTPUT]:
        raise ExportError(f"{path}: outputs are {outputs}, expected [{OUTPUT!r}]")
    _check_tensor(path, graph.output[0], onnx.TensorProto.FLOAT, [AXES[0], logits])


def _check_tensor(path: Path, value: Any, dtype: int, dims: list[Any]) -> None:
    tensor = value.type.tensor_type
    if tensor.elem_type != dtype:
        got = onnx.TensorProto.DataType.Name(tensor.elem_type)
        want = onnx.TensorProto.DataType.Name(dtype)
        raise ExportError(f"{path}: {value.name} has dtype {got}, expected {want}")
    got_dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
    if got_dims != dims:
        raise ExportError(f"{path}: {value.name} has shape {got_dims}, expected {dims}")


def ort_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    try:
        return inference_session(path, threads)
    except Exception as exc:
        raise ExportError(
            f"{path}: not a loadable ONNX model ({str(exc).splitlines()[0]})"
        ) from None


def batch_arrays(
    frame: pd.DataFrame, pad_id: int, length: int | None = None
) -> dict[str, np.ndarray]:
    """Pad the frame's encoded rows to `length` (default: the longest row) as int64 arrays."""
    rows = list(zip(*(frame[name] for name in ALL_INPUTS), strict=True))
    return pad_batch(rows, pad_id, length)


def ort_logits(session: ort.InferenceSession, arrays: dict[str, np.ndarray]) -> np.ndarray:
    return session.run([OUTPUT], feeds(session, arrays))[0]


@torch.inference_mode()
def torch_logits(model: torch.nn.Module, arrays: dict[str, np.ndarray]) -> np.ndarray:
    named = {k: torch.from_numpy(arrays[k]) for k in model_inputs(model.config)}
    return model.eval()(**named).logits.float().numpy()


def frame_logits(
    runner: Any,
    frame: pd.DataFrame,
    pad_id: int,
    *,
    run: Callable[[Any, dict[str, np.ndarray]], np.ndarray] = ort_logits,
    batch_size: int = 64,
) -> np.ndarray:
    """Logits [n, labels] of `run(runner, arrays)` over every row, in row order, batched
    by length: an ONNX Runtime session by default, a PyTorch model with `run=torch_logits`."""
    out: np.ndarray | None = None
    for idx in length_batches(frame["input_ids"].map(len).to_numpy(), batch_size):
        logits = run(runner, batch_arrays(frame.iloc[idx], pad_id))
        if out is None:
            out = np.empty((len(frame), logits.shape[1]), dtype=np.float32)
        out[idx] = logits
    return out if out is not None else np.empty((0, 1), dtype=np.float32)


def ranking_scores(logits: np.ndarray) -> np.ndarray:
    """The contract's scores in float64: what every gate and report ranks by."""
    return relevance_scores(logits).astype(np.float64)


def same_ranking(queries: np.ndarray, ref: np.ndarray, other: np.ndarray, tol: float) -> bool:
    """True when, per query, `other` in `ref`'s order never rises by more than `tol`."""
    for query in np.unique(queries):
        mask = queries == query
        order = np.argsort(-ref[mask], kind="stable")
        if np.any(np.diff(other[mask][order]) > tol):
            return False
    return True


def long_pairs(tokenizer: Any, frame: pd.DataFrame, n: int, max_length: int) -> pd.DataFrame:
    """Real validation queries with several titles joined, truncated to exactly `max_length`."""
    rows = []
    titles = frame["title"].tolist()
    for i in range(n):
        query = frame["query"].iat[i % len(frame)]
        text = " ".join(titles[(i + j) % len(titles)] for j in range(12))
        enc = tokenizer(
            query,
            text,
            truncation="only_second",
            max_length=max_length,
            return_token_type_ids=True,
        )
        rows.append({k: np.asarray(enc[k]) for k in ALL_INPUTS})
    return pd.DataFrame(rows)


def parity_gate(
    model: torch.nn.Module,
    session: ort.InferenceSession,
    tokenizer: Any,
    frame: pd.DataFrame,
    *,
    atol: float,
    max_length: int,
) -> dict[str, Any]:
    """Compare ONNX Runtime to PyTorch over batch sizes x lengths and on the whole split.

    Lengths: the split's own, its rows padded to `max_length` (`encode.max_length`, the
    longest input the pipeline makes), and real pairs filling all `max_length` tokens.
    """
    pad_id = tokenizer.pad_token_id
    grid = {}
    longs = long_pairs(tokenizer, frame, max(PARITY_BATCHES), max_length)
    for batch in PARITY_BATCHES:
        rows = frame.iloc[:batch]
        cases = {
            "short": batch_arrays(rows, pad_id),
            f"padded{max_length}": batch_arrays(rows, pad_id, max_length),
            f"full{max_length}": batch_arrays(longs.iloc[:batch], pad_id, max_length),
        }
        for name, arrays in cases.items():
            diff = np.abs(ort_logits(session, arrays) - torch_logits(model, arrays))
            grid[f"b{batch}_{name}"] = float(diff.max())
    # The whole split, batched the same way for both runtimes.
    onnx_split = frame_logits(session, frame, pad_id)
    torch_split = frame_logits(model, frame, pad_id, run=torch_logits)
    split_diff = float(np.abs(onnx_split - torch_split).max())
    max_diff = max([*grid.values(), split_diff])
    onnx_scores, torch_scores = relevance_scores(onnx_split), relevance_scores(torch_split)
    ranking_ok = same_ranking(frame["query"].to_numpy(), torch_scores, onnx_scores, 2 * atol)
    report = {
        "max_abs_diff": max_diff,
        "grid_max_abs_diff": grid,
        "split_rows": len(frame),
        "same_ranking": ranking_ok,
        "atol": atol,
        "passed": bool(max_diff <= atol and ranking_ok),
    }
    if not report["passed"]:
        why = (
            f"max |onnx - torch| = {max_diff:.2e} > atol {atol:.0e}"
            if max_diff > atol
            else "ranking differs"
        )
        raise ExportError(f"parity gate failed: {why}; grid {grid}")
    return report


def _scores_alone(
    session: ort.InferenceSession, frame: pd.DataFrame, pad_id: int, length: int | None
) -> np.ndarray:
    rows = range(len(frame))
    return np.array(
        [ranking_scores(ort_logits(session, batch_arrays(frame.iloc[[i]], pad_id, length)))[0]
         for i in tqdm(rows, desc=f"pairs alone{f' padded to {length}' if length else ''}")],
        dtype=np.float64,
    )  # fmt: skip


def batch_gate(
    session: ort.InferenceSession,
    frame: pd.DataFrame,
    pad_id: int,
    *,
    batched: np.ndarray,
    name: str,
    length: int,
    atol: float,
) -> tuple[dict[str, Any], np.ndarray]:
    """Each pair of `frame` scored alone unpadded, alone padded to `length` (as Vespa's
    global phase scores a hit) and inside a batch by length (`batched`, `ranking_scores` of
    `frame_logits`) must agree within `atol`; else the stage fails naming the pair. Returns
    the report and the padded scores, what a server computes."""
    alone = _scores_alone(session, frame, pad_id, None)
    padded = _scores_alone(session, frame, pad_id, length)
    cases = {
        "alone_vs_batched": np.abs(alone - batched),
        f"padded{length}_vs_alone": np.abs(padded - alone),
        f"padded{length}_vs_batched": np.abs(padded - batched),
    }
    worst = {case: float(diff.max()) if diff.size else 0.0 for case, diff in cases.items()}
    max_diff = max(worst.values(), default=0.0)
    report = {"pairs": len(frame), "max_abs_diff": max_diff, "by_case": worst, "atol": atol}
    if max_diff > atol:
        i = int(np.argmax(np.max(np.stack(list(cases.values())), axis=0)))
        raise ExportError(
            f"batch gate failed: {name}'s score for a pair depends on its batch: validation "
            f"pair {i} (query {frame['query'].iat[i]!r}) scores {alone[i]:.4f} alone, "
            f"{padded[i]:.4f} alone padded to {length}, {batched[i]:.4f} in a batch "
            f"(max |diff| {max_diff:.2e} > export.batch_atol {atol:g})"
        )
    return {**report, "passed": True}, padded


def variant_quality(frame: pd.DataFrame, scores: np.ndarray, k: int) -> dict[str, float]:
    """nDCG@k per query and ROC-AUC of one variant's scores (`ranking_scores`)."""
    ranking = frame_ranking(frame, scores, k)
    return {
        f"ndcg@{k}": ranking[f"ndcg@{k}"],
        "roc_auc": classification_metrics(frame["label"].tolist(), scores)["roc_auc"],
    }
