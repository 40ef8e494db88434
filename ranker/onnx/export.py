"""The export stage: ONNX for a search engine, behind the gates in `gates.py`, and an int8
copy where it passes its own gate (`int8.py`). The contract it writes to is
`ranker.serve.contract`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ranker.config import EncodeParams, ExportParams
from ranker.files import atomic_path, write_json
from ranker.model.cls_only import cls_only_while
from ranker.model.compat import check_model
from ranker.model.families import model_inputs
from ranker.onnx.gates import (
    batch_gate,
    check_contract,
    frame_logits,
    ort_session,
    parity_gate,
    ranking_scores,
    variant_quality,
)
from ranker.onnx.head import one_logit_gate
from ranker.onnx.int8 import build_int8
from ranker.onnx.manifest import write_manifest
from ranker.serve.contract import AXES, FP32_NAME, INT8_NAME, OUTPUT, VOCAB

log = logging.getLogger(__name__)


class NamedInputs(torch.nn.Module):
    """Binds ONNX inputs, in graph order, to the model's keyword arguments by name, so they
    cannot be swapped: the model's own inputs (`model_inputs`), two or three.

    With `unpad`, each layer's feed-forward block runs on real tokens only (see `unpadded`).
    """

    def __init__(self, model: torch.nn.Module, unpad: bool = False) -> None:
        super().__init__()
        self.model = model
        self.unpad = unpad
        self.inputs = model_inputs(model.config)
        self._rows: torch.Tensor | None = None

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.inputs, args, strict=True))
        if self.unpad:
            # [tokens]: positions of real tokens in the flattened [batch * sequence].
            self._rows = named["attention_mask"].reshape(-1).nonzero().squeeze(1)
        return self.model(**named).logits

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
    """Patch every `feed_forward_chunk` (BERT, RoBERTa, XLM-R, ELECTRA layers) while
    exporting; yields how many layers were patched (0 for DistilBERT, DeBERTa and ModernBERT,
    whose blocks are other modules: exported as they are, said in the log)."""
    modules = wrapper.model.modules() if wrapper.unpad else []
    layers = [m for m in modules if callable(getattr(m, "feed_forward_chunk", None))]
    if wrapper.unpad and not layers:
        log.info("feed-forward kept on padded tokens: %s has no BERT feed-forward chunks",
                 type(wrapper.model).__name__)  # fmt: skip
    try:
        for layer in layers:
            layer.feed_forward_chunk = wrapper.unpadded(layer.feed_forward_chunk)
        yield len(layers)
    finally:
        for layer in layers:
            # Drop the instance attribute: the class's method shows through again.
            vars(layer).pop("feed_forward_chunk", None)


def export_onnx(
    model: torch.nn.Module, tokenizer: Any, path: Path, *, opset: int, unpad: bool = True
) -> None:
    """TorchScript export with both axes of every input and the batch axis of logits dynamic.

    `unpad` leaves out work that cannot reach the logits: padded tokens in the feed-forward
    blocks, and every position but [CLS] in the last layer (`ranker.model.cls_only`)."""
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
        return_token_type_ids=True,
    )
    args = tuple(sample[name] for name in wrapper.inputs)
    dynamic = {name: {0: AXES[0], 1: AXES[1]} for name in wrapper.inputs}
    dynamic[OUTPUT] = {0: AXES[0]}
    # Tracer warnings flag Python-side branches on shapes; the parity gate checks the result
    # on every shape that matters, so they are noise here.
    with (
        torch.inference_mode(),
        warnings.catch_warnings(),
        unpadded_feed_forward(wrapper) as unpadded_layers,
        cls_only_while(model, enabled=unpad) as cls_only,
    ):
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=list(wrapper.inputs),
            output_names=[OUTPUT],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
            do_constant_folding=True,
        )
    model.set_attn_implementation(previous)
    log.info(
        "exported %s: feed-forward on real tokens only in %d layers, last layer [CLS] only: %s",
        path.name,
        unpadded_layers - cls_only,
        cls_only,
    )


@dataclasses.dataclass
class StagedExport:
    """What `staged_export` built, before it is published: the folder being written, the
    metrics so far, and the open sessions with their validation scores by variant (what
    the Vespa step gates on, so it scores nothing twice)."""

    dir: Path
    metrics: dict[str, Any]
    sessions: dict[str, Any]
    scores: dict[str, np.ndarray]
    # Whether Vespa can feed this model, and why not (`ranker.model.compat.vespa_blocker`).
    vespa: dict[str, Any]


@contextmanager
def staged_export(
    *,
    model: torch.nn.Module,
    tokenizer: Any,
    frame: pd.DataFrame,
    calibration_frame: pd.DataFrame,
    encode: EncodeParams,
    test_frame: pd.DataFrame | None = None,
    params: ExportParams,
    k: int,
    seed: int,
    threads: int,
    out_dir: Path,
    reranker_dir: Path | None = None,
    provenance: dict[str, Any] | None = None,
    text_fields: tuple[str, ...] = ("title",),
) -> Iterator[StagedExport]:
    """Export, gate and quantize into a staging folder and yield it; `out_dir` gets it when
    the block ends (and `reranker_dir` the model as exported, head included, for
    sentence-transformers), and both keep what they held when anything in the block fails
    (a gate here, or the caller's own step on the staged files). Metrics hold no timings.

    The gates decide on `frame` (validation: a gate is a selection); int8's activation
    ranges come from `calibration_frame` (training pairs). `test_frame`, never used to
    decide anything, gives the reported quality of each published ONNX file. `text_fields`:
    the document fields whose text, joined by a space, is the pair's second segment (the
    manifest says so to a consumer)."""
    info = check_model(model.name_or_path, tokenizer, encode.max_length)
    pad_id = tokenizer.pad_token_id
    length = encode.max_length
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(atomic_path(out_dir, is_dir=True))
        metrics: dict[str, Any] = {"model": {k_: info[k_] for k_ in ("model_type", "inputs")}}
        if params.head == "one_logit":
            model, metrics["head"] = one_logit_gate(model, frame, pad_id, atol=params.atol)
        fp32 = tmp / FP32_NAME
        export_onnx(model, tokenizer, fp32, opset=params.opset, unpad=params.unpad)
        logits_n = model.config.num_labels
        check_contract(fp32, tuple(info["inputs"]), logits_n)
        session = ort_session(fp32, threads)
        metrics["parity"] = parity_gate(
            model, session, tokenizer, frame, atol=params.atol, max_length=length
        )
        log.info("parity passed: max abs diff %.2e", metrics["parity"]["max_abs_diff"])
        sessions = {"fp32": session}
        scores = {"fp32": ranking_scores(frame_logits(session, frame, pad_id))}
        batch, served = batch_gate(
            session, frame, pad_id, batched=scores["fp32"], name=FP32_NAME, length=length,
            atol=params.batch_atol,
        )  # fmt: skip
        metrics["batch"] = {"fp32": batch}
        metrics["fp32"] = {
            **variant_quality(frame, scores["fp32"], k),
            "size_mb": round(fp32.stat().st_size / 2**20, 2),
        }
        files = [FP32_NAME]
        if params.quantize:
            int8 = build_int8(
                fp32,
                frame=frame,
                calibration_frame=calibration_frame,
                fp32_served=served,
                pad_id=pad_id,
                inputs=tuple(info["inputs"]),
                logits=logits_n,
                params=params,
                length=length,
                k=k,
                seed=seed,
                threads=threads,
                metrics=metrics,
            )
            if int8 is not None:
                sessions["int8"], scores["int8"] = int8.session, int8.scores
                files.append(INT8_NAME)
        tokenizer.save_pretrained(str(tmp))
        if not (tmp / VOCAB).exists() and hasattr(tokenizer, "vocab"):
            # Vespa's WordPiece embedder reads vocab.txt.
            ordered = sorted(tokenizer.vocab.items(), key=lambda kv: kv[1])
            (tmp / VOCAB).write_text("".join(f"{tok}\n" for tok, _ in ordered), encoding="utf-8")
        write_manifest(
            tmp,
            encode=encode,
            params=params,
            files=files,
            model=info,
            logits=logits_n,
            provenance=provenance or {},
            text_fields=text_fields,
        )
        if reranker_dir is not None:
            saved = stack.enter_context(atomic_path(reranker_dir, is_dir=True))
            model.save_pretrained(str(saved))
            tokenizer.save_pretrained(str(saved))
        if test_frame is not None:
            metrics["test"] = {
                name: variant_quality(
                    test_frame, ranking_scores(frame_logits(sess, test_frame, pad_id)), k
                )
                for name, sess in sessions.items()
            }
        yield StagedExport(
            dir=tmp, metrics=metrics, sessions=sessions, scores=scores, vespa=info["vespa"]
        )


def run_export(*, metrics_path: Path, **kwargs: Any) -> dict[str, Any]:
    """`staged_export` with nothing built beside the files: publish, then write the metrics."""
    with staged_export(**kwargs) as staged:
        pass
    write_json(metrics_path, staged.metrics)
    return staged.metrics
