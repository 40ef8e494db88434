"""What `make bench` prints: the machine, then each section's ratios against its target."""

from __future__ import annotations

from typing import Any


def print_machine(m: dict[str, Any]) -> None:
    print(f"machine: {m['model']}, {m['cores']} cores, {m['threads']} torch threads")
    print(
        f"instruction sets: {' '.join(m['isa_flags'])}; torch runs {m['torch_cpu_capability']}"
        + "".join(
            f"; {k}={m[k]}" for k in ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS") if m[k]
        )
    )


def print_path(name: str, p: dict[str, Any]) -> None:
    if "skipped" in p:
        print(f"[{name}] skipped: {p['skipped']}")
        return
    lim = p.get("limits")  # --deep only
    print(
        f"[{name}] torch runs {p['machine']['torch_cpu_capability']}"
        + (
            f"; large GEMMs: torch fp32 {lim['torch_fp32']['gflops']} GFLOP/s, ORT fp32 "
            f"{lim['ort_fp32']['gflops']}, ORT int8 {lim['ort_int8']['gops']} GOP/s"
            if lim
            else ""
        )
        + (f" ({p['onnxruntime_isa']})" if "onnxruntime_isa" in p else "")
        + (f"; AMX {p['amx']}" if "amx" in p else "")
        + (f"; CPUID {mask}" if (mask := p["machine"].get("cpuid_mask")) else "")
    )
    if "reference" in p:
        print_training(name, p)
    for variant, a in p.get("int8_agreement", {}).items():
        print(
            f"[{name}] int8 {variant}: test nDCG@10 {a['ndcg@10_test']}; scores vs the native "
            f"path: max |diff| {a['max_abs_diff']}, median {a['median_abs_diff']}, p99 "
            f"{a['p99_abs_diff']}, {a['pairs_over_0.1']} of {a['pairs']} pairs over 0.1"
        )
    for batch, row in p["reranking"].items():
        frac = ", ".join(
            f"{k} {v['rate']} ({v['fraction_of_gemm']:.0%}"
            + (f", rounds {v['fraction_by_round']})" if "fraction_by_round" in v else ")")
            for k, v in row.get("of_gemm", {}).items()
        )
        print(
            f"[{name}] rerank {batch} {row['shape']}: int8 {row['int8_speedup_vs_torch']}x torch "
            f"(median of rounds {row['int8_speedup_by_round']}; ratio of the medians "
            f"{row.get('int8_speedup_of_medians')}x; target >= 2x on AVX2, >= 3x with VNNI); "
            + (
                f"(G)OP/s and share of the path's GEMM (target int8 >= 80%): {frac}; "
                if frac
                else ""
            )
        )
        if prof := row.get("int8_profile"):
            ops = ", ".join(f"{k} {v:.0%}" for k, v in prof["share"].items())
            print(
                f"[{name}] int8 {batch} profile ({prof['kernel_ms_per_call']} ms of kernels): "
                f"int8 products {prof['int8_products_share']:.0%} of it; {ops}"
            )


def print_training(name: str, p: dict[str, Any]) -> None:
    ref = p["reference"]
    print(f"[{name}] train reference: {ref['samples_per_s']} pairs/s ({ref['step_ms']} ms/step)")
    for variant, row in p["variants"].items():
        if "error" in row:
            print(f"[{name}] train {variant:24s} failed: {row['error']}")
            continue
        rounds = f", rounds {row['speedup_by_round']}" if "speedup_by_round" in row else ""
        print(
            f"[{name}] train {variant:24s} {row['samples_per_s']:7.1f} pairs/s "
            f"({row['step_ms']} ms/step, start-up {row['startup_s']} s) -> "
            f"{row['speedup']:.2f}x the reference{rounds} (target >= 5x)"
        )
    if big := p.get("full_scale"):
        print(
            f"[{name}] 55k-pair set: reference {big['reference']['samples_per_s']} pairs/s, "
            + ", ".join(
                f"{v} {big[v]['samples_per_s']} ({big[v]['speedup']:.2f}x, target >= 5x)"
                for v in ("project", "frozen_word_embeddings")
            )
        )
    for variant in ("project", "frozen_word_embeddings"):
        prof = p["variants"][variant].get("profile")
        if prof:
            parts = ", ".join(f"{k} {v:.0%}" for k, v in prof["share"].items())
            print(f"[{name}] step profile, {variant} ({prof['step_ms']} ms): {parts}")
    if t := p.get("training_of_gemm"):  # --deep only
        print(
            f"[{name}] training: {t['gflops']} GFLOP/s in matrix products = "
            f"{t['fraction_of_gemm']:.0%} of the fp32 GEMM"
        )
    if c := p.get("compiled_inference"):
        print(
            f"[{name}] torch.compile, scoring batch 32: {c['eager_ms']} -> {c['compiled_ms']} ms "
            f"({c['speedup']}x) after {c['compile_s']} s compiling; max |diff| {c['max_abs_diff']:.1e}"
        )


def print_summary(r: dict[str, Any]) -> None:
    print("\n== ranker benchmark (ratios are what matter) ==")
    print_machine(r["machine"])
    print(f"data: {r['data']}")
    for name, p in r.get("isas", {}).items():
        print_path(name, p)
    native = r.get("isas", {}).get("native", {}).get("variants", {})
    for name, rows in r.get("allocators", {}).items():
        for variant, row in rows.items() if "skipped" not in rows else []:
            base = native.get(variant, {}).get("samples_per_s")
            print(
                f"allocator {name}, {variant}: {row['samples_per_s']} pairs/s "
                f"(glibc malloc {base}, separate runs: +-10% is noise)"
            )
        if "skipped" in rows:
            print(f"allocator {name}: skipped ({rows['skipped']})")
    for key, row in r.get("training", {}).items():
        bf16 = f", bf16 {row['speedup_bf16']:.2f}x" if "speedup_bf16" in row else ""
        print(
            f"train {key:18s} reference {row['reference']['samples_per_s']:7.1f}/s  "
            f"project ({row['project']['precision']}) {row['project']['samples_per_s']:7.1f}/s  "
            f"-> {row['speedup']:.2f}x{bf16} (target >= 5x)"
        )
    if fc := r.get("frozen_cache"):
        print(
            f"frozen base, 3 epochs: recompute {fc['recompute']['wall_s']} s, "
            f"cached {fc['cached']['wall_s']} s -> {fc['speedup']}x"
        )
    for batch, row in r.get("reranking", {}).items():
        print(
            f"rerank {batch} {row['shape']}: torch {row['torch_eager']} ms, "
            f"onnx fp32 {row['onnx_fp32']} ms, int8 {row['onnx_int8']} ms "
            f"-> int8 {row['int8_speedup_vs_torch']}x torch (target >= 3x); "
            f"pairs/s {row['pairs_per_s']}"
        )
    for split, row in r.get("int8_quality", {}).items():
        print(
            f"int8 quality, {split}: {row} (target: test nDCG@10 within 1% of fp32)"
            if isinstance(row, dict)
            else f"int8 quality: {row}"
        )
    if "dvc_repro_noop" in r:
        print(f"no-change dvc repro: {r['dvc_repro_noop']} (target < 3 s)")
        print(f"full-scale training peak memory: {r['full_scale_peak_memory']} (target < 4 GiB)")
        print(f"CORD-19 metadata.csv read (generated, 1.5 GB): {r.get('trec_metadata_memory')}")
        print(f"corpus of 1M documents, built and searched by BM25: {r.get('corpus_memory')}")
        for row in r.get("source_memory") or []:
            print(f"download stage, generated source: {row}")
    if scale := r.get("scale"):
        for row in scale["stage_memory"]:
            print(f"peak RSS per stage, {row['rows']} pairs: {row} (download..encode < 2 GiB)")
        print(f"data-parallel training on this machine: {scale['data_parallel']}")
        print(f"ranker-rerank --pairs (all cores): {scale['batch_rerank']}")
