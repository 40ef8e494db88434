"""Export on the tiny model: contract, parity, dynamic shapes, batch independence, int8 and
its gate, and corrupted files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
import torch

from ranker.config import EncodeParams, ExportParams
from ranker.data.sample import generate_sample
from ranker.errors import ExportError
from ranker.model.encode import encode_frame
from ranker.model.modeling import load_classifier
from ranker.model.tokenizer import load_tokenizer
from ranker.onnx.export import export_onnx, run_export, staged_export
from ranker.onnx.gates import (
    batch_arrays,
    batch_gate,
    check_contract,
    frame_logits,
    ort_logits,
    ort_session,
    ranking_scores,
    torch_logits,
)
from ranker.onnx.int8 import int8_gate, rank_agreement
from ranker.onnx.quantize import calibration_batches, quantize_int8
from ranker.serve import contract
from ranker.serve.contract import ALL_INPUTS as INPUTS
from ranker.serve.runtime import inference_session
from tests.conftest import LENIENT_INT8, ROOT
from tools.isa.cpuid import unavailable as cpuid_mask_unavailable


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[torch.nn.Module, object]:
    return load_classifier(str(tiny_model_dir), 0), load_tokenizer(str(tiny_model_dir))


@pytest.fixture(scope="module")
def frame(tiny) -> pd.DataFrame:
    _, tokenizer = tiny
    pairs = generate_sample(pairs_per_query=12).head(200)
    return encode_frame(pairs, tokenizer, EncodeParams(max_length=128)).to_pandas()


@pytest.fixture(scope="module")
def exported(tiny, tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = tiny
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(model, tokenizer, path, opset=17)
    return path


@pytest.fixture(scope="module")
def batches(frame: pd.DataFrame) -> list[dict[str, np.ndarray]]:
    return calibration_batches(frame, 0, pairs=64, length=128, seed=0, method="minmax")


def test_contract(exported: Path) -> None:
    check_contract(exported, INPUTS, 2)
    graph = onnx.load(str(exported)).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    for value in graph.input:
        assert value.type.tensor_type.elem_type == onnx.TensorProto.INT64
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch", "sequence"]
    (out,) = graph.output
    assert out.name == "logits"
    dims = out.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 2


def test_contract_rejects_a_renamed_input(exported: Path, tmp_path: Path) -> None:
    model = onnx.load(str(exported))
    model.graph.input[2].name = "segment_ids"
    for node in model.graph.node:
        node.input[:] = ["segment_ids" if i == "token_type_ids" else i for i in node.input]
    bad = tmp_path / "renamed.onnx"
    onnx.save(model, str(bad))
    with pytest.raises(ExportError, match=r"inputs are .*segment_ids"):
        check_contract(bad, INPUTS, 2)


def test_inputs_bound_by_name_with_token_types(tiny, exported: Path, frame: pd.DataFrame) -> None:
    model, _ = tiny
    arrays = batch_arrays(frame.iloc[:16], 0)
    assert (arrays["token_type_ids"] == 1).any(), "pairs put 1s in token_type_ids"
    session = ort_session(exported)
    got = ort_logits(session, arrays)
    np.testing.assert_allclose(got, torch_logits(model, arrays), atol=1e-4)
    # The same arrays fed to the wrong names change the output: the check can fail.
    swapped = dict(
        arrays, attention_mask=arrays["token_type_ids"], token_type_ids=arrays["attention_mask"]
    )
    assert np.abs(ort_logits(session, swapped) - got).max() > 1e-3


@pytest.mark.parametrize(("batch", "length"), [(1, 5), (1, 128), (37, 5), (37, 128)])
def test_dynamic_shapes(tiny, exported: Path, batch: int, length: int) -> None:
    model, _ = tiny
    rng = np.random.default_rng(batch * length)
    arrays = {
        "input_ids": rng.integers(1000, 5000, size=(batch, length), dtype=np.int64),
        "attention_mask": np.ones((batch, length), dtype=np.int64),
        "token_type_ids": np.zeros((batch, length), dtype=np.int64),
    }
    arrays["token_type_ids"][:, length // 2 :] = 1
    arrays["attention_mask"][0, max(1, length - 2) :] = 0
    got = ort_logits(ort_session(exported), arrays)
    assert got.shape == (batch, 2)
    np.testing.assert_allclose(got, torch_logits(model, arrays), atol=1e-4)


def test_int8_round_trip(
    tiny, exported: Path, frame: pd.DataFrame, batches: list, tmp_path: Path
) -> None:
    int8 = tmp_path / "model.int8.onnx"
    done = quantize_int8(exported, int8, batches)
    check_contract(int8, INPUTS, 2)
    nodes = onnx.load(str(int8)).graph.node
    ops = {node.op_type for node in nodes}
    # Static QDQ in standard ops: Vespa's ONNX Runtime, or any other, loads it.
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and {n.domain for n in nodes} <= {""}
    assert not ops & {"DynamicQuantizeLinear", "MatMulInteger", "QAttention"}, ops
    # Each layer's feed-forward output projection reads GELU's output: kept in fp32.
    assert done == {"method": "minmax", "fp32_projections": tiny[0].config.num_hidden_layers}
    assert int8.stat().st_size < exported.stat().st_size / 2
    arrays = batch_arrays(frame.iloc[:32], 0)
    fp32 = ort_logits(ort_session(exported), arrays)
    q = ort_logits(ort_session(int8), arrays)
    assert q.shape == fp32.shape
    assert np.abs(q - fp32).max() < 0.5


def test_calibration_pairs_are_seeded_padded_and_batched(frame: pd.DataFrame) -> None:
    minmax = calibration_batches(frame, 0, pairs=40, length=128, seed=3, method="minmax")
    assert [len(b["input_ids"]) for b in minmax] == [16, 16, 8]
    assert {b["input_ids"].shape[1] for b in minmax} == {128}
    again = calibration_batches(frame, 0, pairs=40, length=128, seed=3, method="minmax")
    assert all(
        np.array_equal(a["input_ids"], b["input_ids"]) for a, b in zip(minmax, again, strict=True)
    )
    other = calibration_batches(frame, 0, pairs=40, length=128, seed=4, method="minmax")
    assert not np.array_equal(minmax[0]["input_ids"], other[0]["input_ids"])
    # The histogram methods see every pair at once; never more pairs than the frame has.
    (one,) = calibration_batches(frame, 0, pairs=10**6, length=128, seed=3, method="entropy")
    assert one["input_ids"].shape == (len(frame), 128)


def _batch_dependent(exported: Path, path: Path) -> None:
    """The model with its relevance logit raised by 0.01 x the real tokens of the whole
    batch: a pair scores alike alone and padded, but moves with the other rows."""
    model = onnx.load(str(exported))
    graph = model.graph
    inner = graph.output[0].name
    for node in graph.node:
        node.output[:] = ["inner_logits" if o == inner else o for o in node.output]
    column = onnx.numpy_helper.from_array(np.array([0.0, 0.01], dtype=np.float32), "column")
    graph.initializer.append(column)
    graph.node.extend([
        onnx.helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=onnx.TensorProto.FLOAT),
        onnx.helper.make_node("ReduceSum", ["mask_f"], ["batch_tokens"], keepdims=0),
        onnx.helper.make_node("Mul", ["batch_tokens", "column"], ["shift"]),
        onnx.helper.make_node("Add", ["inner_logits", "shift"], [inner]),
    ])  # fmt: skip
    onnx.save(model, str(path))


def test_batch_gate_passes_static_int8_and_fails_a_batch_dependent_model(
    exported: Path, frame: pd.DataFrame, batches: list, tmp_path: Path
) -> None:
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(exported, int8, batches)
    rows = frame.head(40)
    for path in (exported, int8):
        session = ort_session(path)
        batched = ranking_scores(frame_logits(session, rows, 0))
        report, padded = batch_gate(
            session, rows, 0, batched=batched, name=path.name, length=128, atol=1e-3
        )
        assert report["passed"] and report["pairs"] == 40 and report["max_abs_diff"] <= 1e-3
        assert set(report["by_case"]) == {
            "alone_vs_batched", "padded128_vs_alone", "padded128_vs_batched"
        }  # fmt: skip
        np.testing.assert_allclose(padded, batched, atol=1e-3)
    bad = tmp_path / "dependent.onnx"
    _batch_dependent(exported, bad)
    session = ort_session(bad)
    batched = ranking_scores(frame_logits(session, rows, 0))
    with pytest.raises(
        ExportError,
        match=r"batch gate failed: dependent.onnx's score for a pair depends on its batch: "
        r"validation pair \d+ \(query '.+'\) scores .+ alone, .+ alone padded to 128, .+ in a "
        r"batch \(max \|diff\| .+ > export.batch_atol 0.001\)",
    ):
        batch_gate(session, rows, 0, batched=batched, name=bad.name, length=128, atol=1e-3)


def _gate_frame(queries: int, candidates: int = 20) -> tuple[pd.DataFrame, np.ndarray]:
    """`queries` queries, each with `candidates` pairs, the first three relevant, and fp32
    scores ranking them in order."""
    frame = pd.DataFrame({
        "query": np.repeat([f"q{i}" for i in range(queries)], candidates),
        "label": np.tile([1, 1, 1] + [0] * (candidates - 3), queries),
    })  # fmt: skip
    return frame, np.tile(np.arange(candidates, 0, -1, dtype=np.float64), queries)


def test_rank_agreement_is_kendall_tau_per_query() -> None:
    frame, fp32 = _gate_frame(2)
    int8 = fp32.copy()
    int8[[0, 1]] = int8[[1, 0]]  # one discordant pair of the first query's C(20, 2) = 190
    np.testing.assert_allclose(rank_agreement(frame, fp32, int8), [1 - 2 / 190, 1.0])


def test_int8_gate_decides_with_confidence_not_on_noise() -> None:
    params = ExportParams()
    # Two queries, one of which loses its top relevant title to rank 10: a drop of 0.05 on
    # average, but 2 queries cannot tell it from noise, and the rankings agree.
    frame, fp32 = _gate_frame(2)
    int8 = fp32.copy()
    int8[0] = 10.5
    noisy = int8_gate(frame, fp32, int8, params=params, k=10, seed=0)
    assert noisy["decision"] == "accepted" and noisy["queries"] == 2, noisy
    assert noisy["ndcg_drop"]["mean"] > params.max_ndcg_drop
    assert noisy["ndcg_drop"]["ci95"]["low"] <= params.max_ndcg_drop
    # The same loss on every one of 40 queries is no longer noise.
    frame, fp32 = _gate_frame(40)
    int8 = fp32.copy()
    int8[::20] = 10.5
    steady = int8_gate(frame, fp32, int8, params=params, k=10, seed=0)
    assert steady["decision"] == "rejected", steady
    assert (
        steady["why"].startswith("nDCG@10 drop ") and "export.max_ndcg_drop 0.02" in steady["why"]
    )
    # A broken int8 (scores unrelated to fp32's) fails on agreement, even on two queries.
    frame, fp32 = _gate_frame(2)
    broken = np.random.default_rng(0).permutation(fp32)
    bad = int8_gate(frame, fp32, broken, params=params, k=10, seed=0)
    assert bad["decision"] == "rejected" and "export.min_rank_agreement 0.8" in bad["why"]
    assert bad["rank_agreement"]["ci95"]["high"] < 0.8


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_onnx_gives_clear_error(exported: Path, tmp_path: Path, damage: str) -> None:
    data = exported.read_bytes()
    bad = tmp_path / "model.onnx"
    bad.write_bytes(
        {"truncate": data[: len(data) // 3], "garbage": b"\x00not onnx" * 50, "empty": b""}[damage]
    )
    with pytest.raises(ExportError, match=r"model.onnx: not a loadable ONNX model"):
        ort_session(bad)


def test_run_export_writes_self_contained_folder(
    tiny, frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    from ranker.onnx import int8 as int8_module

    model, tokenizer = tiny
    out, metrics_path = tmp_path / "onnx", tmp_path / "export.json"
    params = ExportParams(**LENIENT_INT8)
    # As if gated on a CPU without VNNI: said in the log, never in the outputs.
    monkeypatch.setattr(int8_module, "int8_product_saturates", lambda: True)
    with caplog.at_level(logging.WARNING, logger="ranker.onnx.int8"):
        metrics = run_export(
            model=model,
            tokenizer=tokenizer,
            frame=frame,
            calibration_frame=frame,
            encode=EncodeParams(),
            params=params,
            k=10,
            seed=0,
            threads=1,
            out_dir=out,
            metrics_path=metrics_path,
            provenance={"base_model": "tiny"},
        )
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "ranker.onnx.int8"]
    assert warning.startswith("int8 gated on a CPU whose int8 product saturates (no VNNI)")
    assert metrics["parity"]["passed"] and metrics["parity"]["max_abs_diff"] <= 1e-4
    assert metrics["parity"]["same_ranking"]
    assert set(metrics["parity"]["grid_max_abs_diff"]) == {
        f"b{b}_{n}" for b in (1, 7, 64) for n in ("short", "padded128", "full128")
    }
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "tokenizer.json", "vocab.txt", "ranker.json"} <= names
    assert metrics["int8"]["size_mb"] < metrics["fp32"]["size_mb"]
    for variant in ("fp32", "int8"):
        assert metrics["batch"][variant]["passed"] and metrics["batch"][variant]["pairs"] == 200
    gate = metrics["int8_gate"]
    judged = frame.groupby("query")["label"].max()  # queries with a relevant pair count
    assert gate["decision"] == "accepted" and gate["queries"] == int(judged.sum())
    assert gate["scored"] == "each validation pair alone, padded to encode.max_length"


def test_failed_parity_gate_leaves_nothing(tiny, frame: pd.DataFrame, tmp_path: Path) -> None:
    model, tokenizer = tiny
    out, metrics_path = tmp_path / "onnx", tmp_path / "export.json"
    common = dict(model=model, tokenizer=tokenizer, frame=frame, calibration_frame=frame,
                  encode=EncodeParams(), k=10, seed=0, threads=1, out_dir=out,
                  metrics_path=metrics_path)  # fmt: skip
    with pytest.raises(ExportError, match="parity gate failed"):
        run_export(**common, params=ExportParams(atol=1e-12, head="two_logits"))
    assert not out.exists() and not metrics_path.exists()
    assert not list(tmp_path.iterdir()), "no temporary files either"
    # The one-logit head is gated first, on the same atol: float rounding of w1 - w0 is
    # far above 1e-12, so the gate can fail.
    with pytest.raises(ExportError, match=r"export.head: the one-logit model's scores differ"):
        run_export(**common, params=ExportParams(atol=1e-12))
    assert not list(tmp_path.iterdir())


def test_a_failing_step_on_the_staged_files_keeps_the_published_ones(
    tiny, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """What the stage builds beside the ONNX files (the Vespa package) runs inside the
    staged block: when it fails, the last good export stays as it was."""
    model, tokenizer = tiny
    out = tmp_path / "onnx"
    common = dict(
        model=model,
        tokenizer=tokenizer,
        frame=frame.head(60),
        calibration_frame=frame,
        encode=EncodeParams(),
        params=ExportParams(quantize=False),
        k=10,
        seed=0,
        threads=1,
        out_dir=out,
    )
    run_export(**common, metrics_path=tmp_path / "m.json")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"ranker.json", "ranker.json.sha256"} <= before.keys()
    staged_dirs = []
    with (
        pytest.raises(ExportError, match="vespa gate failed"),
        staged_export(**common) as staged,
    ):
        staged_dirs.append(staged.dir)
        assert staged.dir != out and set(staged.sessions) == {"fp32"}
        assert staged.scores["fp32"].shape == (60,)
        raise ExportError("vespa gate failed: test")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not staged_dirs[0].exists()


def test_a_rejected_int8_costs_nothing_else(
    tiny, frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    """int8 fails its gate: the fp32 file, its manifest and a fp32 Vespa package are still
    written, the int8 file is not, and one line says so naming the params; with
    export.require_int8 the stage fails instead and writes nothing."""
    import json

    import ranker.onnx.int8 as int8_module
    from ranker.config import VespaParams
    from ranker.vespa.build import run_vespa

    real = int8_module.int8_gate

    def rejecting(*args, **kwargs):
        return {**real(*args, **kwargs), "decision": "rejected", "why": "nDCG@10 drop (test)"}

    monkeypatch.setattr(int8_module, "int8_gate", rejecting)
    model, tokenizer = tiny
    rows = frame.head(60)
    common = dict(model=model, tokenizer=tokenizer, frame=rows, calibration_frame=frame,
                  encode=EncodeParams(), k=10, seed=0, threads=1)  # fmt: skip
    out, vespa = tmp_path / "onnx", tmp_path / "vespa"
    with (
        caplog.at_level(logging.WARNING),
        staged_export(
            **common, params=ExportParams(), out_dir=out, test_frame=frame.tail(40)
        ) as staged,
    ):
        staged.metrics["vespa"] = run_vespa(
            staged, frame=rows, params=VespaParams(model="int8"), bm25=(1.2, 0.75),
            length=128, k=10, out_dir=vespa,
        )  # fmt: skip
    metrics = staged.metrics
    assert metrics["int8_gate"]["decision"] == "rejected" and "int8" not in metrics
    assert set(metrics["test"]) == {"fp32"}, "test quality of the published files only"
    names = {p.name for p in out.iterdir()}
    assert "model.onnx" in names and "model.int8.onnx" not in names
    manifest = json.loads((out / "ranker.json").read_text())
    assert "model.int8.onnx" not in manifest["sha256"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    (line,) = [m for m in messages if m.startswith("int8 rejected")]
    assert line.startswith("int8 rejected, fp32 published without it: nDCG@10 drop (test); ")
    assert {"export.quantize", "export.max_ndcg_drop", "export.require_int8"} <= set(
        w.strip(",;:") for w in line.split()
    )
    assert metrics["vespa"]["built"] and metrics["vespa"]["model"] == "fp32"
    assert metrics["vespa"]["requested"] == "int8"
    packaged = (vespa / "files" / "ranker.onnx").read_bytes()
    assert packaged == (out / "model.onnx").read_bytes()
    assert "`files/ranker.onnx` (fp32," in (vespa / "README.md").read_text()
    assert "vespa.model is int8, which failed its gate: the package serves fp32" in messages

    fatal = tmp_path / "fatal"
    with pytest.raises(
        ExportError, match=r"int8 rejected: nDCG@10 drop \(test\) \(export.require_int8 is true\)"
    ):
        run_export(**common, params=ExportParams(require_int8=True), out_dir=fatal,
                   metrics_path=tmp_path / "fatal.json")  # fmt: skip
    assert not fatal.exists() and not (tmp_path / "fatal.json").exists()


def test_graph_manifest_and_reranker_follow_the_one_contract(onnx_dir: Path) -> None:
    """The exported graph, its manifest and the serving side agree with `contract`, and the
    reranker's feeds score like the gates' arrays on the same pairs."""
    import json

    from ranker.serve.rerank import Reranker

    graph = onnx.load(str(onnx_dir / contract.FP32_NAME)).graph
    assert tuple(i.name for i in graph.input) == contract.ALL_INPUTS  # BERT: two token types
    assert [o.name for o in graph.output] == [contract.OUTPUT]
    manifest = json.loads((onnx_dir / contract.MANIFEST).read_text())
    described = contract.describe(contract.ALL_INPUTS, 1)  # export.head: one_logit
    assert {k: manifest[k] for k in described} == described
    assert manifest["template"] == {"start": [101], "middle": [102], "end": [102], "pad_id": 0}
    assert set(manifest["sha256"]) == {
        p.name
        for p in onnx_dir.iterdir()
        if p.name not in (contract.MANIFEST, contract.MANIFEST_SHA256)
    }
    ranker = Reranker(onnx_dir)
    pairs = [("covid masks", "face coverings reduce spread"), ("vaccine", "a title")]
    encs = [ranker.tokenizer.encode(q, t) for q, t in pairs]
    feeds = contract.pad_batch([(e.ids, e.attention_mask, e.type_ids) for e in encs], 0)
    session = ort_session(onnx_dir / contract.FP32_NAME)
    expected = contract.relevance_scores(ort_logits(session, feeds))
    got = [ranker.scores(q, [t])[0] for q, t in pairs]
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("by_length", [True, False])
def test_length_batches_cover_every_row_once(by_length: bool) -> None:
    """The one batching helper every scoring loop uses: each row once, shortest first and
    stable among equal lengths (so the same input gives the same batches), or in order."""
    lengths = [5, 3, 9, 3, 1, 5, 7]
    batches = [b.tolist() for b in contract.length_batches(lengths, 3, by_length=by_length)]
    if by_length:
        assert batches == [[4, 1, 3], [0, 5, 6], [2]]
    else:
        assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(contract.length_batches([], 3)) == []


def test_sessions_keep_layer_norm_unfused(exported: Path, batches: list, tmp_path: Path) -> None:
    """...and ONNX Runtime's own optimizer, which would fuse them at load, is told not to."""
    import onnxruntime as ort

    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(exported, int8, batches)

    def runtime_ops(session_path: Path, default: bool) -> set[str]:
        saved = tmp_path / f"{session_path.stem}.{default}.optimized.onnx"
        if default:
            options = ort.SessionOptions()
            options.optimized_model_filepath = str(saved)
            ort.InferenceSession(str(session_path), options, providers=["CPUExecutionProvider"])
        else:
            inference_session(session_path, optimized_model_path=saved)
        return {node.op_type for node in onnx.load(str(saved)).graph.node}

    assert "SkipLayerNormalization" in runtime_ops(int8, default=True)
    assert "SkipLayerNormalization" not in runtime_ops(int8, default=False)


@pytest.mark.parametrize("unpad", [True, False])
def test_unpadded_feed_forward_keeps_logits(
    tiny, frame: pd.DataFrame, tmp_path: Path, unpad: bool
) -> None:
    model, tokenizer = tiny
    path = tmp_path / "model.onnx"
    export_onnx(model, tokenizer, path, opset=17, unpad=unpad)
    nodes = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ("ScatterND" in nodes and "NonZero" in nodes) == unpad, set(nodes)
    # Every layer but the last scatters its real tokens back; the last computes [CLS] only.
    layers = model.config.num_hidden_layers
    assert nodes.count("ScatterND") == (layers - 1 if unpad else 0)
    # The layers are themselves again after the export: no patched method left behind.
    assert not any({"feed_forward_chunk", "forward"} & set(vars(m)) for m in model.modules())
    # Rows of very different lengths: most of the batch is padding.
    rows = frame.iloc[:8].copy()
    for column in INPUTS:
        rows[column] = [values[: 3 + 9 * i] for i, values in enumerate(rows[column])]
    long = batch_arrays(frame.iloc[8:9], 0)
    for arrays in (batch_arrays(rows, 0), long):
        np.testing.assert_allclose(
            ort_logits(ort_session(path), arrays), torch_logits(model, arrays), atol=1e-5
        )


def _int8_weights(path: Path) -> list[np.ndarray]:
    model = onnx.load(str(path))
    return [
        onnx.numpy_helper.to_array(t)
        for t in model.graph.initializer
        if t.data_type == onnx.TensorProto.INT8 and t.dims and np.prod(t.dims) > 1
    ]


@pytest.mark.parametrize("reduce_range", [True, False])
def test_int8_weights_cannot_saturate_avx2s_product(
    exported: Path, batches: list, tmp_path: Path, reduce_range: bool
) -> None:
    """AVX2's int8 product adds two uint8 x int8 products in a saturating int16: with every
    weight within [-64, 64] the sum is at most 2 x 255 x 64 = 32640 < 32767. Full-range
    weights (reduce_range off) exceed it, so this test can tell the two apart."""
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(exported, int8, batches, reduce_range=reduce_range)
    weights = _int8_weights(int8)
    assert len(weights) >= 4  # the Q/K/V, attention output and feed-forward products
    largest = max(int(np.abs(w.astype(np.int32)).max()) for w in weights)
    assert (largest <= 64) if reduce_range else (largest > 64), largest


def _saturating_matmul(path: Path) -> np.ndarray:
    """A one-MatMul model and an input where AVX2's int16 pair sums overflow at full range:
    inputs in [0, 1] quantize to uint8 up to 255, and a column of equal positive weights to
    int8 127 (per channel), so two adjacent products sum to 2 x 255 x 127 = 64770."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = rng.uniform(-1, 1, (64, 16)).astype(np.float32)
    weights[:, 0] = 1.0
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "saturating",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 16])],
        initializer=[numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    x = rng.uniform(0, 1, (8, 64)).astype(np.float32)
    x[:, :8] = 1.0
    return x


@pytest.mark.skipif(bool(cpuid_mask_unavailable()), reason=cpuid_mask_unavailable() or "")
def test_int8_scores_agree_on_an_avx2_cpu(tmp_path: Path) -> None:
    """With 7-bit weights (`export.reduce_range`) the gate's int8 numbers, computed on the
    export machine, hold on an AVX2-only CPU (Zen 3): the same file run in a process whose
    CPUID reports AVX2 only (`python -m tools.isa --avx2`), so that ONNX Runtime runs its AVX2 int8
    kernels, gives the same outputs; with full-range weights they saturate (the control)."""
    import subprocess
    import sys

    x = _saturating_matmul(tmp_path / "fp32.onnx")
    np.save(tmp_path / "x.npy", x)
    for reduce_range in (True, False):
        quantize_int8(
            tmp_path / "fp32.onnx",
            tmp_path / f"int8-{reduce_range}.onnx",
            [{"x": x}],
            reduce_range=reduce_range,
        )
    code = (
        "import sys, numpy as np; from tools.isa import cpuid; "
        "from ranker.serve.runtime import inference_session; "
        "x = np.load(sys.argv[1] + '/x.npy'); "
        "[np.save(f'{sys.argv[1]}/avx2-{r}.npy', inference_session(f'{sys.argv[1]}/int8-{r}.onnx', 1).run(None, {'x': x})[0]) for r in (True, False)]; "
        "print(cpuid.mask_state())"
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tools.isa", "--avx2", "-c", code, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("avx2 (")
    gap = {}
    for reduce_range in (True, False):
        native = inference_session(tmp_path / f"int8-{reduce_range}.onnx", 1).run(None, {"x": x})
        avx2 = np.load(tmp_path / f"avx2-{reduce_range}.npy")
        gap[reduce_range] = float(np.abs(avx2 - native[0]).max())
    assert gap[True] < 1e-4, gap
    if "avx512_vnni" in Path("/proc/cpuinfo").read_text():
        # This CPU's own int8 path has VNNI, which does not saturate: full range differs.
        assert gap[False] > 0.1, gap


def test_an_export_gated_on_two_queries_completes_with_default_params(
    tiny, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Few validation queries are legal: with every default the stage publishes its files,
    and int8 is decided (and recorded) on the two queries it has, whichever way it goes."""
    model, tokenizer = tiny
    two = frame[frame["query"].isin(frame["query"].unique()[:2])]
    out = tmp_path / "onnx"
    metrics = run_export(
        model=model, tokenizer=tokenizer, frame=two, calibration_frame=frame,
        encode=EncodeParams(), params=ExportParams(), k=10, seed=0, threads=1, out_dir=out,
        metrics_path=tmp_path / "export.json",
    )  # fmt: skip
    gate = metrics["int8_gate"]
    assert gate["rank_agreement"]["queries"] <= 2 and gate["decision"] in ("accepted", "rejected")
    assert (out / "model.onnx").is_file()
    assert (out / "model.int8.onnx").is_file() == (gate["decision"] == "accepted")
