"""The export stage: ONNX for a search engine, a hard parity gate, and an int8 model.

Contract (what a Vespa rank profile references):
  inputs  input_ids, attention_mask, token_type_ids: int64 [batch, sequence]
  output  logits: float32 [batch, 2]; relevance score = logits[:, 1] - logits[:, 0]
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import torch

from ranker.config import EncodeParams, ExportParams
from ranker.encode import FEATURES
from ranker.errors import ExportError
from ranker.io import atomic_path, sha256_file, write_json
from ranker.metrics import classification_metrics, ranking_metrics
from ranker.modeling import relevance_scores
from ranker.runtime import MANIFEST, inference_session

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "logits"
AXES = ("batch", "sequence")
FP32_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
PARITY_BATCHES = (1, 7, 64)
LONG = 128


class NamedInputs(torch.nn.Module):
    """Binds ONNX inputs to the model's keyword arguments, so they cannot be swapped.

    With `unpad`, each layer's feed-forward block runs on real tokens only (see `unpadded`).
    """

    def __init__(self, model: torch.nn.Module, unpad: bool = False) -> None:
        super().__init__()
        self.model = model
        self.unpad = unpad
        self._rows: torch.Tensor | None = None

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        if self.unpad:
            # [tokens]: positions of real tokens in the flattened [batch * sequence].
            self._rows = attention_mask.reshape(-1).nonzero().squeeze(1)
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).logits

    def unpadded(self, chunk: Any) -> Any:
        """`chunk` (a layer's feed-forward block) applied to the real tokens only.

        The block is position-wise and holds two thirds of the encoder's FLOPs, and padding
        never reaches the logits: padded keys get zero attention weight and the classifier
        reads [CLS]. So padded rows keep their input and skip the block: at batch 32 of the
        sample (27% padding) int8 runs 1.13x and fp32 1.2x faster, with the same logits.
        """

        def feed_forward(hidden: torch.Tensor) -> torch.Tensor:  # [batch, sequence, hidden]
            flat = hidden.reshape(-1, hidden.shape[-1])
            out = chunk(flat.index_select(0, self._rows))  # [tokens, hidden]
            return flat.index_put((self._rows,), out).reshape(hidden.shape)

        return feed_forward


@contextmanager
def unpadded_feed_forward(wrapper: NamedInputs) -> Iterator[int]:
    """Patch every `feed_forward_chunk` (BERT, RoBERTa, ELECTRA... layers) while exporting;
    yields how many layers were patched (0 for other architectures: exported as they are)."""
    modules = wrapper.model.modules() if wrapper.unpad else []
    layers = [m for m in modules if callable(getattr(m, "feed_forward_chunk", None))]
    try:
        for layer in layers:
            layer.feed_forward_chunk = wrapper.unpadded(layer.feed_forward_chunk)
        yield len(layers)
    finally:
        for layer in layers:
            # Drop the instance attribute: the class's method shows through again.
            vars(layer).pop("feed_forward_chunk", None)


def export_onnx(
    model: torch.nn.Module, tokenizer: Any, path: Path, opset: int, unpad: bool = True
) -> None:
    """TorchScript export with both axes of every input and the batch axis of logits dynamic."""
    # Eager attention traces to the plain MatMul/Softmax pattern that ONNX Runtime's BERT
    # optimizer fuses into its Attention kernel; SDPA's traced graph does not fuse.
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    # The exporter restores the wrapper's train/eval mode onto every submodule afterwards:
    # a wrapper left in train mode would switch dropout back on in `model`.
    wrapper = NamedInputs(model, unpad).eval()
    # A real pair, so token_type_ids holds both 0s and 1s during tracing.
    sample = tokenizer(
        ["covid vaccine trial", "mask policy"],
        ["phase 3 results of an mRNA vaccine", "face coverings and transmission"],
        padding=True,
        return_tensors="pt",
    )
    args = tuple(sample[name] for name in INPUTS)
    dynamic = {name: {0: AXES[0], 1: AXES[1]} for name in INPUTS}
    dynamic[OUTPUT] = {0: AXES[0]}
    # Tracer warnings flag Python-side branches on shapes; the parity gate checks the result
    # on every shape that matters, so they are noise here.
    with (
        torch.inference_mode(),
        warnings.catch_warnings(),
        unpadded_feed_forward(wrapper) as unpadded_layers,
    ):
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    model.set_attn_implementation(previous)
    log.info(
        "exported %s: feed-forward on real tokens only in %d layers", path.name, unpadded_layers
    )


def check_contract(path: Path) -> None:
    """`onnx.checker` (full) plus exact names, dtypes and symbolic axes of inputs and output."""
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{path}: onnx.checker failed: {str(exc).splitlines()[0]}") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    got_inputs = [i.name for i in graph.input]
    if got_inputs != list(INPUTS):
        raise ExportError(f"{path}: inputs are {got_inputs}, expected {list(INPUTS)}")
    for value in graph.input:
        _check_tensor(path, value, onnx.TensorProto.INT64, list(AXES))
    outputs = [o.name for o in graph.output]
    if outputs != [OUTPUT]:
        raise ExportError(f"{path}: outputs are {outputs}, expected [{OUTPUT!r}]")
    _check_tensor(path, graph.output[0], onnx.TensorProto.FLOAT, [AXES[0], 2])


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


def _pad(rows: list[list[int]], length: int, value: int) -> np.ndarray:
    out = np.full((len(rows), length), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def batch_arrays(
    frame: pd.DataFrame, pad_id: int, length: int | None = None
) -> dict[str, np.ndarray]:
    """Pad the frame's encoded rows to `length` (default: the longest row) as int64 arrays."""
    cols = {k: [x.tolist() for x in frame[k]] for k in FEATURES}
    n = length or max(len(r) for r in cols["input_ids"])
    return {
        "input_ids": _pad(cols["input_ids"], n, pad_id),
        "attention_mask": _pad(cols["attention_mask"], n, 0),
        "token_type_ids": _pad(cols["token_type_ids"], n, 0),
    }


def ort_logits(session: ort.InferenceSession, arrays: dict[str, np.ndarray]) -> np.ndarray:
    return session.run([OUTPUT], {k: arrays[k] for k in INPUTS})[0]


@torch.inference_mode()
def torch_logits(model: torch.nn.Module, arrays: dict[str, np.ndarray]) -> np.ndarray:
    feeds = {k: torch.from_numpy(v) for k, v in arrays.items()}
    return model.eval()(**feeds).logits.float().numpy()


def split_logits(run: Any, frame: pd.DataFrame, pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Logits [n, 2] of `run(arrays)` over every row, in row order, batched by length."""
    lengths = frame["input_ids"].map(len).to_numpy()
    order = np.argsort(lengths, kind="stable")
    out = np.empty((len(frame), 2), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        out[idx] = run(batch_arrays(frame.iloc[idx], pad_id))
    return out


def score_frame(session: ort.InferenceSession, frame: pd.DataFrame, pad_id: int) -> np.ndarray:
    logits = split_logits(lambda arrays: ort_logits(session, arrays), frame, pad_id)
    return relevance_scores(logits).astype(np.float64)


def same_ranking(queries: np.ndarray, ref: np.ndarray, other: np.ndarray, tol: float) -> bool:
    """True when, per query, `other` in `ref`'s order never rises by more than `tol`."""
    for query in np.unique(queries):
        mask = queries == query
        order = np.argsort(-ref[mask], kind="stable")
        if np.any(np.diff(other[mask][order]) > tol):
            return False
    return True


def long_pairs(tokenizer: Any, frame: pd.DataFrame, n: int, max_length: int = LONG) -> pd.DataFrame:
    """Real validation queries with several titles joined, truncated to exactly `max_length`."""
    rows = []
    titles = frame["title"].tolist()
    for i in range(n):
        query = frame["query"].iat[i % len(frame)]
        text = " ".join(titles[(i + j) % len(titles)] for j in range(12))
        enc = tokenizer(query, text, truncation="only_second", max_length=max_length)
        rows.append({k: np.asarray(enc[k]) for k in FEATURES})
    return pd.DataFrame(rows)


def parity_gate(
    model: torch.nn.Module,
    session: ort.InferenceSession,
    tokenizer: Any,
    frame: pd.DataFrame,
    atol: float,
) -> dict[str, Any]:
    """Compare ONNX Runtime to PyTorch over batch sizes x lengths and on the whole split."""
    pad_id = tokenizer.pad_token_id or 0
    grid = {}
    longs = long_pairs(tokenizer, frame, max(PARITY_BATCHES))
    for batch in PARITY_BATCHES:
        rows = frame.iloc[:batch]
        cases = {
            "short": batch_arrays(rows, pad_id),
            "padded128": batch_arrays(rows, pad_id, LONG),
            "full128": batch_arrays(longs.iloc[:batch], pad_id, LONG),
        }
        for name, arrays in cases.items():
            diff = np.abs(ort_logits(session, arrays) - torch_logits(model, arrays))
            grid[f"b{batch}_{name}"] = float(diff.max())
    # The whole split, batched the same way for both runtimes.
    onnx_split = split_logits(lambda arrays: ort_logits(session, arrays), frame, pad_id)
    torch_split = split_logits(lambda arrays: torch_logits(model, arrays), frame, pad_id)
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


def quantize_int8(fp32: Path, int8: Path, config: Any, per_channel: bool = True) -> None:
    """Fused for ONNX Runtime, then dynamic int8 (weights int8, activations at run time).

    The fused graph uses ONNX Runtime's contrib ops (com.microsoft: Attention,
    EmbedLayerNormalization, ...), which Vespa's ONNX Runtime runs; `model.onnx` keeps
    standard ops only.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fused = int8.with_name(f".{int8.stem}.fused.onnx")
    try:
        options = FusionOptions("bert")
        # Measured at batch 32 (ranker/runtime.py): SkipLayerNormalization is slower than
        # Add + LayerNormalization, and BiasGelu slower than Gelu after a MatMul that the
        # quantizer gives the bias to.
        options.enable_skip_layer_norm = False
        options.enable_bias_gelu = False
        optimized = optimize_model(
            str(fp32),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            optimization_options=options,
        )
        fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        log.info("fused for ONNX Runtime: %s", fusions)
        optimized.save_model_to_file(str(fused))
        quantize_dynamic(
            fused,
            int8,
            weight_type=QuantType.QInt8,
            # One scale per output channel: on the sample, ROC-AUC loss 0.003 vs 0.012.
            per_channel=per_channel,
            # Weights only; the Gathers of `unpadded` move activations, nothing to quantize.
            op_types_to_quantize=["MatMul", "Attention", "EmbedLayerNormalization"],
            # Contrib ops carry no ONNX type information for the quantizer to read.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        fused.unlink(missing_ok=True)


def evaluate_variant(
    session: ort.InferenceSession, frame: pd.DataFrame, pad_id: int, k: int
) -> dict[str, float]:
    scores = score_frame(session, frame, pad_id)
    ranking = ranking_metrics(frame["query"].tolist(), frame["label"].tolist(), scores, k)
    return {
        f"ndcg@{k}": ranking[f"ndcg@{k}"],
        "roc_auc": classification_metrics(frame["label"].tolist(), scores)["roc_auc"],
    }


def write_manifest(
    out_dir: Path,
    *,
    encode: EncodeParams,
    params: ExportParams,
    files: list[str],
    provenance: dict[str, Any],
) -> None:
    """`ranker.json`: the contract, the model's provenance, and the SHA-256 of every file."""
    manifest = {
        "inputs": {name: {"dtype": "int64", "shape": list(AXES)} for name in INPUTS},
        "output": {OUTPUT: {"dtype": "float32", "shape": [AXES[0], 2]}},
        "score": "logits[:, 1] - logits[:, 0]",
        "labels": {"0": "irrelevant", "1": "relevant"},
        "max_length": encode.max_length,
        "opset": params.opset,
        "files": files,
        "sha256": {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.name != MANIFEST},
        "provenance": {**provenance, "export": dataclasses.asdict(params)},
    }
    (out_dir / MANIFEST).write_text(
        json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def int8_gate(variants: dict[str, Any], params: ExportParams, k: int) -> dict[str, float]:
    """How much int8 loses against fp32; fails the stage past the params' limits."""
    drop = {
        metric: variants["fp32"][metric] - variants["int8"][metric]
        for metric in (f"ndcg@{k}", "roc_auc")
    }
    log.info("int8: nDCG@%d drop %.4f, ROC-AUC drop %.4f", k, drop[f"ndcg@{k}"], drop["roc_auc"])
    limits = {f"ndcg@{k}": params.max_ndcg_drop, "roc_auc": params.max_auc_drop}
    names = {f"ndcg@{k}": f"nDCG@{k}", "roc_auc": "ROC-AUC"}
    if any(drop[m] > limits[m] for m in drop):
        detail = ", ".join(
            f"{names[m]} {variants['fp32'][m]:.4f} -> {variants['int8'][m]:.4f} "
            f"(drop {drop[m]:.4f}, max {limits[m]})"
            for m in drop
        )
        raise ExportError(f"int8 model loses too much: {detail}")
    return drop


def run_export(
    *,
    model: torch.nn.Module,
    tokenizer: Any,
    frame: pd.DataFrame,
    encode: EncodeParams,
    params: ExportParams,
    k: int,
    threads: int,
    out_dir: Path,
    metrics_path: Path,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export, gate and quantize into `out_dir`, all or nothing; metrics hold no timings."""
    pad_id = tokenizer.pad_token_id or 0
    with atomic_path(out_dir, is_dir=True) as tmp:
        fp32 = tmp / FP32_NAME
        export_onnx(model, tokenizer, fp32, params.opset, params.unpad)
        check_contract(fp32)
        session = ort_session(fp32, threads)
        parity = parity_gate(model, session, tokenizer, frame, params.atol)
        log.info("parity passed: max abs diff %.2e", parity["max_abs_diff"])
        variants: dict[str, Any] = {
            "fp32": {
                **evaluate_variant(session, frame, pad_id, k),
                "size_mb": round(fp32.stat().st_size / 2**20, 2),
            }
        }
        files = [FP32_NAME]
        if params.quantize:
            int8 = tmp / INT8_NAME
            quantize_int8(fp32, int8, model.config, params.per_channel)
            check_contract(int8)
            variants["int8"] = {
                **evaluate_variant(ort_session(int8, threads), frame, pad_id, k),
                "size_mb": round(int8.stat().st_size / 2**20, 2),
            }
            variants["int8_drop"] = int8_gate(variants, params, k)
            files.append(INT8_NAME)
        tokenizer.save_pretrained(str(tmp))
        if not (tmp / "vocab.txt").exists() and hasattr(tokenizer, "vocab"):
            # Vespa's WordPiece embedder reads vocab.txt.
            ordered = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
            (tmp / "vocab.txt").write_text(
                "".join(f"{tok}\n" for tok, _ in ordered), encoding="utf-8"
            )
        write_manifest(tmp, encode=encode, params=params, files=files, provenance=provenance or {})
    metrics = {"parity": parity, **variants}
    write_json(metrics_path, metrics)
    return metrics
