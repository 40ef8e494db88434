"""Export on the tiny model: contract, parity, dynamic shapes, int8, and corrupted files."""

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
    check_contract,
    frame_logits,
    mask_value_gate,
    ort_logits,
    ort_session,
    torch_logits,
)
from ranker.onnx.quantize import quantize_int8
from ranker.serve import contract
from ranker.serve.contract import ALL_INPUTS as INPUTS
from ranker.serve.runtime import inference_session
from tests.conftest import ROOT
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


def test_int8_round_trip(tiny, exported: Path, frame: pd.DataFrame, tmp_path: Path) -> None:
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(exported, int8, tiny[0].config)
    check_contract(int8, INPUTS, 2)
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert ops & {"Attention", "QAttention"}, f"attention was not fused for ONNX Runtime: {ops}"
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "QAttention"}
    # The slower fused forms (see ranker/serve/runtime.py) are left out of the file...
    assert not ops & {"SkipLayerNormalization", "BiasGelu"}, ops
    assert int8.stat().st_size < exported.stat().st_size / 2
    arrays = batch_arrays(frame.iloc[:32], 0)
    fp32 = ort_logits(ort_session(exported), arrays)
    q = ort_logits(ort_session(int8), arrays)
    assert q.shape == fp32.shape
    assert np.abs(q - fp32).max() < 0.5


def _mask_values(path: Path) -> list[float]:
    return [
        onnx.helper.get_attribute_value(a)
        for n in onnx.load(str(path)).graph.node
        if n.op_type == "QAttention"
        for a in n.attribute
        if a.name == "mask_filter_value"
    ]


def test_int8_attention_mask_value_is_set_and_gated(
    tiny, exported: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Every fused attention node carries the param's value. At -40 the logits are those of
    ONNX Runtime's -10000 (the gate passes); at -1, padded keys weigh in, the gate fails and
    names the param. The tiny model's scores are small, so -1 cannot hide them."""
    layers = tiny[0].config.num_hidden_layers
    for value in (-40.0, -1.0, -10000.0):
        int8 = tmp_path / f"int8{value:g}.onnx"
        quantize_int8(exported, int8, tiny[0].config, attention_mask_value=value)
        # The unpadded export keeps the last layer's attention unfused ([CLS] only);
        # ONNX Runtime's own value is left out, as the quantizer writes it.
        assert _mask_values(int8) == ([] if value == -10000 else [value] * (layers - 1))
    int8, loose = tmp_path / "int8-40.onnx", tmp_path / "int8-1.onnx"

    def gate(path: Path, value: float) -> dict:
        session = ort_session(path)
        logits = frame_logits(session, frame, 0)
        return mask_value_gate(
            session, path, frame, 0, logits=logits, value=value, max_length=128, atol=1e-4
        )

    report = gate(int8, -40.0)
    assert report["passed"] and report["max_abs_diff"] <= 1e-4, report
    with pytest.raises(ExportError, match=r"export.attention_mask_value -1: int8 logits move"):
        gate(loose, -1.0)


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
    from ranker.onnx import export

    model, tokenizer = tiny
    out, metrics_path = tmp_path / "onnx", tmp_path / "export.json"
    params = ExportParams(max_ndcg_drop=1.0, max_auc_drop=1.0)
    # As if gated on a CPU without VNNI: said in the log, never in the outputs.
    monkeypatch.setattr(export, "int8_product_saturates", lambda: True)
    with caplog.at_level(logging.WARNING, logger="ranker.onnx.export"):
        metrics = run_export(
            model=model,
            tokenizer=tokenizer,
            frame=frame,
            encode=EncodeParams(),
            params=params,
            k=10,
            threads=1,
            out_dir=out,
            metrics_path=metrics_path,
            provenance={"base_model": "tiny"},
        )
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "ranker.onnx.export"]
    assert warning.startswith("int8 gated on a CPU whose int8 product saturates (no VNNI)")
    assert metrics["parity"]["passed"] and metrics["parity"]["max_abs_diff"] <= 1e-4
    assert metrics["parity"]["same_ranking"]
    assert set(metrics["parity"]["grid_max_abs_diff"]) == {
        f"b{b}_{n}" for b in (1, 7, 64) for n in ("short", "padded128", "full128")
    }
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "tokenizer.json", "vocab.txt", "ranker.json"} <= names
    assert metrics["int8"]["size_mb"] < metrics["fp32"]["size_mb"]
    assert metrics["int8_mask"]["passed"] and metrics["int8_mask"]["value"] == -40.0
    layers = model.config.num_hidden_layers
    assert _mask_values(out / "model.int8.onnx") == [-40.0] * (layers - 1), "in the shipped file"


def test_failed_parity_gate_leaves_nothing(tiny, frame: pd.DataFrame, tmp_path: Path) -> None:
    model, tokenizer = tiny
    out, metrics_path = tmp_path / "onnx", tmp_path / "export.json"
    common = dict(model=model, tokenizer=tokenizer, frame=frame, encode=EncodeParams(), k=10,
                  threads=1, out_dir=out, metrics_path=metrics_path)  # fmt: skip
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
        encode=EncodeParams(),
        params=ExportParams(quantize=False),
        k=10,
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


def test_int8_gate_fails_past_max_drop(
    tiny, frame: pd.DataFrame, tmp_path: Path, monkeypatch
) -> None:
    import ranker.onnx.export as export

    model, tokenizer = tiny
    real = export.variant_quality
    seen: list[dict[str, float]] = []
    calls = iter([0.0, 0.5])

    def fake(frame, scores, k):
        result = real(frame, scores, k)
        result[f"ndcg@{k}"] -= next(calls)
        seen.append(result)
        return result

    monkeypatch.setattr(export, "variant_quality", fake)
    out = tmp_path / "onnx"
    with pytest.raises(ExportError) as info:
        run_export(
            model=model,
            tokenizer=tokenizer,
            frame=frame,
            encode=EncodeParams(),
            params=ExportParams(),
            k=10,
            threads=1,
            out_dir=out,
            metrics_path=tmp_path / "m.json",
        )
    # The expected message comes from the values this CPU measured: int8 kernels differ
    # between CPUs (VNNI or not), so no number of one machine's is written here.
    fp32, int8 = seen
    drops = {m: fp32[m] - int8[m] for m in ("ndcg@10", "roc_auc")}
    assert drops["ndcg@10"] > 0.4
    assert str(info.value) == (
        "int8 model loses too much: "
        f"nDCG@10 {fp32['ndcg@10']:.4f} -> {int8['ndcg@10']:.4f} "
        f"(drop {drops['ndcg@10']:.4f}, max 0.02), "
        f"ROC-AUC {fp32['roc_auc']:.4f} -> {int8['roc_auc']:.4f} "
        f"(drop {drops['roc_auc']:.4f}, max 0.02)"
    )
    assert "--" not in str(info.value)
    assert not out.exists()


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


def test_sessions_keep_layer_norm_unfused(tiny, exported: Path, tmp_path: Path) -> None:
    """...and ONNX Runtime's own optimizer, which would fuse them at load, is told not to."""
    import onnxruntime as ort

    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(exported, int8, tiny[0].config)

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
    tiny, exported: Path, tmp_path: Path, reduce_range: bool
) -> None:
    """AVX2's int8 product adds two uint8 x int8 products in a saturating int16: with every
    weight within [-64, 64] the sum is at most 2 x 255 x 64 = 32640 < 32767. Full-range
    weights (reduce_range off) exceed it, so this test can tell the two apart."""
    int8 = tmp_path / "model.int8.onnx"
    quantize_int8(exported, int8, tiny[0].config, reduce_range=reduce_range)
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
    from types import SimpleNamespace

    x = _saturating_matmul(tmp_path / "fp32.onnx")
    np.save(tmp_path / "x.npy", x)
    for reduce_range in (True, False):
        quantize_int8(
            tmp_path / "fp32.onnx",
            tmp_path / f"int8-{reduce_range}.onnx",
            SimpleNamespace(model_type="bert"),
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
