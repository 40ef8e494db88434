"""The benchmark's data and arithmetic (its timings are never asserted)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench.common import REFERENCE_SCALE_ROWS, reference_scale_set, title_lengths
from bench.deep.flops import encoder_flops


def test_reference_scale_set_has_the_reference_size_and_schema() -> None:
    big = reference_scale_set()
    assert len(big) == REFERENCE_SCALE_ROWS == 55_000
    assert list(big.columns) == ["query", "title", "label"]
    assert big["query"].nunique() == 50
    assert set(big["label"]) == {0, 1}
    # Realistic titles: CORD-19's average about 11 words.
    assert 8 <= title_lengths(big)["generated_mean_words"] <= 16


def test_encoder_flops_counts_dense_layers_and_attention() -> None:
    config = SimpleNamespace(hidden_size=4, num_hidden_layers=1, intermediate_size=8)
    model = SimpleNamespace(config=config)
    # Per token: 2 x (Q, K, V, output 4x4 + two 4x8 FFN matmuls) = 2 x (64 + 64) = 256;
    # attention scores and weighted sum: 2 x 2 x seq x hidden per token.
    assert encoder_flops(model, batch=1, seq=3) == pytest.approx(3 * 256 + 2 * 2 * 3 * 3 * 4)


def test_exported_flops_skip_padding_and_all_but_cls_in_the_last_layer() -> None:
    from bench.deep.flops import exported_flops

    config = SimpleNamespace(hidden_size=4, num_hidden_layers=2, intermediate_size=8)
    model = SimpleNamespace(config=config)
    # Layer 1: Q, K, V, output on 3 positions (3 x 64), the FFN on 2 real tokens (2 x 64),
    # attention 2 x 3 x 3 x 4; layer 2: K, V on 3 positions (3 x 32), Q, output and the FFN
    # on [CLS] (32 + 64), attention 2 x 3 x 1 x 4. Two FLOPs per multiply-add.
    expected = 2 * ((192 + 128 + 72) + (96 + 96 + 24))
    assert exported_flops(model, batch=1, seq=3, real_tokens=2) == expected
    # MiniLM-L6 without padding: the last layer's share of dense work is 10 of 72 parts.
    mini = SimpleNamespace(
        config=SimpleNamespace(hidden_size=384, num_hidden_layers=6, intermediate_size=1536)
    )
    ratio = exported_flops(mini, 32, 128, 32 * 128) / encoder_flops(mini, 32, 128)
    assert ratio == pytest.approx(1 - 10 / 72, abs=0.01)


def test_profile_buckets_follow_the_range_an_op_runs_in() -> None:
    from bench.deep.profile import _bucket_of

    assert _bucket_of("aten::addmm", []) == "matmul"
    assert _bucket_of("aten::bmm", []) == "attention"  # only attention batches products
    assert _bucket_of("aten::mul_", ["Optimizer.step#AdamW.step"]) == "optimizer"
    assert _bucket_of("aten::_foreach_norm", ["clip_grad_norm"]) == "clip_grad"
    assert _bucket_of("aten::zero_", ["EmbeddingBackward0", "autograd::engine"]) == (
        "embedding_grad"
    )
    assert _bucket_of("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", []) == (
        "data_collate"
    )
    assert _bucket_of("aten::native_dropout", []) == "dropout"
    assert _bucket_of("aten::native_layer_norm", []) == "other_ops"
    assert _bucket_of("ProfilerStep*", []) is None  # Python: what no op accounts for


def test_step_profile_accounts_for_the_step(tiny_model_dir) -> None:
    """On the tiny model: every bucket present, their sum the step, and the profiler's count
    of matrix-product FLOPs equal to 3 x the forward's (forward, and backward's two)."""
    from bench.deep.profile import BUCKETS, profile_steps
    from bench.training import make_trainer
    from ranker.config import EncodeParams
    from ranker.data.sample import generate_sample
    from ranker.model.batches import PairDataset, make_collator
    from ranker.model.encode import encode_frame
    from ranker.model.modeling import load_classifier
    from ranker.model.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(str(tiny_model_dir))
    encode = EncodeParams(max_length=32, padding="max_length")
    frame = encode_frame(generate_sample(4).head(48), tokenizer, encode).to_pandas()
    model = load_classifier(str(tiny_model_dir), 0)
    trainer = make_trainer(
        model, PairDataset(frame), make_collator(tokenizer, encode), steps=6, batch=8, group=False
    )
    prof = profile_steps(trainer, 6)
    assert set(prof["ms"]) == set(BUCKETS) and prof["profiled_steps"] == 4
    assert sum(prof["ms"].values()) == pytest.approx(prof["step_ms"], abs=0.6)
    for bucket in ("matmul", "optimizer", "clip_grad", "embedding_grad"):
        assert prof["ms"][bucket] > 0, bucket
    forward = encoder_flops(model, batch=8, seq=32)  # dense layers and attention's products
    # Backward: two products per forward one; the pooler and the classifier are a rounding.
    assert prof["gflop_per_step"] * 1e9 == pytest.approx(3 * forward, rel=0.02)


def test_the_report_prints_every_recorded_section(capsys) -> None:
    """The committed results print: a renamed key in run.py breaks this, not a user's bench."""
    from bench.common import ROOT
    from bench.report import print_summary

    for name in ("results.json", "results-quick.json"):
        print_summary(json.loads((ROOT / "bench" / name).read_text()))
        printed = capsys.readouterr().out
        assert "instruction sets: " in printed
    assert "[avx2] torch runs AVX2" in printed and "step profile" in printed
    assert "[no_amx] " in printed and "AMX not granted" in printed


def test_interleaved_rounds_take_the_median_ratio(monkeypatch: pytest.MonkeyPatch) -> None:
    """Recipes alternate round by round; a noisy round moves one ratio, not the median."""
    import bench.training as training

    calls: list[str] = []
    # pairs/s per round: round 1 is slowed for everything by a noisy neighbour.
    speeds = {"reference": [10.0, 5.0, 10.0], "project": [60.0, 30.0, 70.0], "full": [40.0]}

    def fake(tokenizer, rows, *, freeze, recipe, steps, variant="project", profile=False):
        name = recipe if recipe == "reference" else variant
        calls.append(name)
        if name == "broken":
            raise RuntimeError("no compiler\nmore")
        rate = speeds[name][min(len(speeds[name]) - 1, calls.count(name) - 1)]
        return {"samples_per_s": rate, "step_ms": 1000 * 16 / rate, "startup_s": 1.0} | (
            {"profile": {"round": calls.count(name)}} if profile else {}
        )

    monkeypatch.setattr(training, "training_throughput", fake)
    ref, variants = training.interleaved(
        None, None, names=("project", "broken", "full"), steps=5, rounds=3, profile=("project",)
    )
    assert calls[:4] == ["reference", "project", "broken", "full"]
    assert calls[4:] == ["reference", "project", "full"] * 2  # a failed variant is not retried
    assert variants["broken"] == {"error": "no compiler"}
    assert variants["project"]["speedup_by_round"] == [6.0, 6.0, 7.0]
    assert variants["project"]["speedup"] == 6.0 and variants["project"]["samples_per_s"] == 60.0
    assert variants["project"]["profile"] == {"round": 1}  # profiled in the first round only
    assert variants["full"]["speedup_by_round"] == [4.0, 8.0, 4.0]
    assert ref["samples_per_s"] == 10.0 and ref["rounds"] == 3


def test_fractions_of_the_limit_are_taken_round_by_round() -> None:
    """A round where the VM slowed both the model and its GEMM gives the same fraction as a
    fast one: each latency is judged against the limit measured in its own round."""
    from bench.deep.flops import exported_flops
    from bench.reranking import per_round_fractions

    model = SimpleNamespace(
        config=SimpleNamespace(hidden_size=8, num_hidden_layers=2, intermediate_size=32)
    )
    work = exported_flops(model, 2, 4, 6)
    fast = {"torch_fp32": {"gflops": 1.0}, "ort_fp32": {"gflops": 1.0}, "ort_int8": {"gops": 2.0}}
    slow = {k: {u: w / 2 for u, w in v.items()} for k, v in fast.items()}
    ms_at = lambda rate: work / (rate * 1e9) * 1000  # noqa: E731  the latency at a rate
    runs = {"onnx_int8": [ms_at(1.6), ms_at(0.8), ms_at(1.6)]}
    out = per_round_fractions(model, [2, 4], 6, runs, [fast, slow, fast])
    assert out["onnx_int8"]["fraction_by_round"] == [0.8, 0.8, 0.8]
    assert out["onnx_int8"]["fraction_of_gemm"] == 0.8 and out["onnx_int8"]["rate"] == 1.6


def test_int8_agreement_compares_each_isa_with_the_native_one() -> None:
    """Pair by pair against the native ISA's scores of the same file; the raw scores are
    not kept in the results, and a skipped ISA stays skipped."""
    from bench.quality import attach_int8_agreement

    def scores(values: list[float]) -> dict:
        return {"exported": {"scores": values, "ndcg@10_test": 0.5}}

    isas = {
        "native": {"int8_scores": scores([1.0, 2.0, 3.0, 4.0])},
        "avx2": {"int8_scores": scores([1.0, 2.05, 3.0, 1.0])},
        "no_amx": {"skipped": "this CPU has no AMX"},
    }
    attach_int8_agreement(isas)
    avx2 = isas["avx2"]["int8_agreement"]["exported"]
    assert avx2["max_abs_diff"] == 3.0 and avx2["median_abs_diff"] == 0.025
    assert avx2["pairs_over_0.1"] == 1 and avx2["pairs"] == 4
    assert isas["native"]["int8_agreement"]["exported"]["max_abs_diff"] == 0.0
    assert isas["no_amx"] == {"skipped": "this CPU has no AMX"}
    assert all("int8_scores" not in p for p in isas.values())


def test_alternatives_targets_compare_with_the_fastest_of_theirs() -> None:
    """int8 against the fastest alternative of any precision, fp32 against their fastest
    fp32; latency ratios are theirs / ours, throughput ratios ours / theirs."""
    from bench.alternatives import targets

    def row(ms: float, per_s: float, ndcg: float) -> dict:
        return {"b1_median_ms": ms, "b32_pairs_per_s": per_s, "ndcg@10_test": ndcg}

    rows = {
        "torch_eager_fp32": row(20.0, 200.0, 0.70),
        "ranker_fp32": row(10.0, 320.0, 0.70),
        "ranker_int8": row(4.0, 600.0, 0.69),
        "st_O3": row(11.0, 300.0, 0.70),
        "st_int8_dynamic_avx2": row(6.0, 650.0, 0.68),
        "optimum_O3": row(12.0, 330.0, 0.70),
    }
    got = targets(rows, 10)
    assert got["ranker_int8_b1"] == {
        "against": "st_int8_dynamic_avx2", "speedup": 1.5, "target": 1.3, "met": True,
        "ndcg_loss": 0.01, "their_ndcg_loss": 0.02,
    }  # fmt: skip
    assert got["ranker_int8_b32"]["against"] == "st_int8_dynamic_avx2"
    assert got["ranker_int8_b32"]["speedup"] == 0.92 and not got["ranker_int8_b32"]["met"]
    assert got["ranker_fp32_b1"]["against"] == "st_O3" and got["ranker_fp32_b1"]["speedup"] == 1.1
    assert got["ranker_fp32_b32"]["against"] == "optimum_O3"
    assert got["ranker_fp32_b32"]["speedup"] == 0.97 and not got["ranker_fp32_b32"]["met"]
    assert targets({"torch_eager_fp32": rows["torch_eager_fp32"]}, 10) == {}


def test_objectives_table_pairs_each_row_with_the_baseline(tmp_path) -> None:
    import pandas as pd

    from bench.objectives import BASELINE, ROWS, _slug, markdown, table

    assert all("loss" in changes["train"] for changes in ROWS.values()), "objectives named"
    queries = [f"q{i}" for i in range(8)]
    base = [0.2, 0.4, 0.5, 0.1, 0.3, 0.6, 0.2, 0.4]
    for row, shift in ((BASELINE, 0.0), ("listwise, given", 0.1)):
        (tmp_path / _slug(row)).mkdir()
        pd.DataFrame({"query": queries, "model": [b + shift for b in base], "bm25": 0.5}).to_csv(
            tmp_path / _slug(row) / "deployed_per_query.csv", index=False
        )
    (tmp_path / "epoch_time.json").write_text(
        json.dumps({BASELINE: {"pairs": 100, "seconds": 12.0}})
    )
    frame = table(tmp_path, [BASELINE, "listwise, given"], 10)
    row = frame.set_index("training").loc["listwise, given"]
    assert row["delta"] == pytest.approx(0.1) and row["queries"] == 8
    assert row["p"] == pytest.approx(2 / 2**8), "exact: every query moved up"
    text = markdown(frame, 10)
    assert "| pointwise, given | 0.338" in text and "| 12 | 8 |" in text
    assert "+0.100" in text and "| — | 8 |" in text, "an untimed row says so"


def test_epoch_time_reads_the_train_stages_own_measure() -> None:
    from bench.epoch_time import epoch_seconds

    got = epoch_seconds({"train": {"loss": "pointwise"}}, queries=1)
    # The sample's main split: 30 training queries of 66 pairs; one of them trained, scaled.
    assert got["pairs"] == 30 * 66
    assert got["seconds"] > 0
