"""Side by side: this project's ONNX files against what a user would pick instead, from the
same weights (models/reranker), on the same test pairs, with the same thread count, one
harness for every file, on each instruction-set path of the bench (native; AVX2 where
CPUID can be masked, `tools.isa --avx2`; on an AMX CPU, AVX-512 VNNI with AMX refused,
`tools.isa --no-amx`).

The alternatives (sentence-transformers' ONNX backend: fp32, O3, dynamic int8 for this
CPU; Optimum: O3 and static int8) are built by `bench/alternatives_build.py` in the bench's
own environment, `.venv-bench` (requirements-bench.lock): Optimum pins transformers 4.

Per file: batch-1 latency of a pair padded to encode.max_length, as a server scores one
hit (median and 99th percentile), throughput at batch 32 (the test split batched by
length), the served score's (batch 1, padded) max |difference| from PyTorch eager fp32,
test nDCG@10 of the served scores, and file size. Each file runs in ONNX Runtime as its
library runs it: this project's with `ranker.serve.runtime.inference_session`, the others
with ONNX Runtime's defaults, each with the same intra-op threads.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.common import ROOT, cpu_description
from ranker.config import load_params
from ranker.model.encode import load_encoded
from ranker.onnx.gates import batch_arrays, frame_logits, ranking_scores, variant_quality
from ranker.serve.contract import feeds
from ranker.serve.runtime import inference_session
from ranker.threads import usable_threads
from tools.isa import cpuid

log = logging.getLogger("bench")

BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
OURS = {"ranker_fp32": "model.onnx", "ranker_int8": "model.int8.onnx"}
FP32 = ("st_fp32", "st_O3", "optimum_O3")


def _default_session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _torch_runner(threads: int) -> Any:
    """PyTorch eager fp32 on models/reranker, as a function of the arrays."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(threads)
    model = AutoModelForSequenceClassification.from_pretrained(str(ROOT / "models" / "reranker"))
    model.eval()

    @torch.inference_mode()
    def run(arrays: dict[str, np.ndarray]) -> np.ndarray:
        named = {k: torch.from_numpy(v) for k, v in arrays.items()}
        return model(**named).logits.float().numpy()

    return run


def _one_round(run: Any, test: pd.DataFrame, pad_id: int, length: int, repeats: int) -> dict:
    singles = [batch_arrays(test.iloc[[i]], pad_id, length) for i in range(repeats)]
    for arrays in singles[:3]:
        run(arrays)
    laps = []
    for arrays in singles:
        start = time.perf_counter()
        run(arrays)
        laps.append(time.perf_counter() - start)
    start = time.perf_counter()
    frame_logits(None, test, pad_id, run=lambda _, a: run(a), batch_size=32)
    seconds = time.perf_counter() - start
    return {
        "b1_median_ms": float(np.median(laps)) * 1e3,
        "b1_p99_ms": float(np.percentile(laps, 99)) * 1e3,
        "b32_pairs_per_s": len(test) / seconds,
    }


def measure(files: dict[str, str], *, repeats: int, rounds: int) -> dict[str, Any]:
    """Every file (and PyTorch eager) on this process's instruction-set path: quality once,
    then `rounds` timing rounds taking every runner in turn, so the VM's neighbours (which
    move one measurement here by 2x) hit all alike; each timing is the median of rounds."""
    params = load_params(ROOT / "params.yaml")
    # One count for every runner: ONNX Runtime's default would take every core.
    threads = usable_threads(params.run.threads, "run.threads")
    test = load_encoded(ROOT / "data" / "encoded" / "test.parquet")
    manifest = json.loads((ROOT / "models" / "onnx" / "ranker.json").read_text())
    pad_id = manifest["template"]["pad_id"]
    length, k = params.encode.max_length, params.evaluate.k
    repeats = min(repeats, len(test))
    runners = {"torch_eager_fp32": _torch_runner(threads)}
    for name, path in files.items():
        session = (
            inference_session(Path(path), threads)
            if name in OURS
            else _default_session(Path(path), threads)
        )
        runners[name] = lambda arrays, s=session: s.run(None, feeds(s, arrays))[0]
    # The reference: PyTorch on each pair alone, unpadded. "Served": alone, padded to
    # encode.max_length, as a server scores one hit.
    torch_scores = np.array(
        [
            ranking_scores(runners["torch_eager_fp32"](batch_arrays(test.iloc[[i]], pad_id)))[0]
            for i in range(len(test))
        ]
    )
    rows: dict[str, Any] = {}
    for name, run in runners.items():
        served = np.array(
            [
                ranking_scores(run(batch_arrays(test.iloc[[i]], pad_id, length)))[0]
                for i in range(len(test))
            ]
        )
        rows[name] = {
            "served_max_abs_diff_vs_torch": round(float(np.abs(served - torch_scores).max()), 4),
            f"ndcg@{k}_test": round(variant_quality(test, served, k)[f"ndcg@{k}"], 4),
        }
        if name in files:
            rows[name]["size_mb"] = round(Path(files[name]).stat().st_size / 2**20, 1)
    timings: dict[str, list[dict[str, float]]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            timings[name].append(_one_round(run, test, pad_id, length, repeats))
    for name, laps in timings.items():
        for metric in laps[0]:
            rows[name][metric] = round(float(np.median([lap[metric] for lap in laps])), 2)
    return rows


def targets(rows: dict[str, Any], k: int) -> dict[str, Any]:
    """The issue's targets on one path: served int8 >= 1.3x the fastest alternative at
    batch 1 and 32 with no more quality loss; fp32 at least as fast as their best fp32."""
    theirs = {n: r for n, r in rows.items() if n not in OURS and n != "torch_eager_fp32"}
    out: dict[str, Any] = {}
    if not theirs:
        return out
    key, torch_ndcg = f"ndcg@{k}_test", rows["torch_eager_fp32"][f"ndcg@{k}_test"]
    for batch, metric, faster in (("b1", "b1_median_ms", min), ("b32", "b32_pairs_per_s", max)):
        best = faster(theirs, key=lambda n, m=metric: theirs[n][m])
        best_fp32 = faster((n for n in theirs if n in FP32), key=lambda n, m=metric: theirs[n][m])
        for ours, against, goal in (("ranker_int8", best, 1.3), ("ranker_fp32", best_fp32, 1.0)):
            if ours not in rows:
                continue
            mine, other = rows[ours][metric], theirs[against][metric]
            ratio = other / mine if metric.endswith("_ms") else mine / other
            out[f"{ours}_{batch}"] = {
                "against": against,
                "speedup": round(ratio, 2),
                "target": goal,
                "met": ratio >= goal,
                "ndcg_loss": round(torch_ndcg - rows[ours][key], 4),
                "their_ndcg_loss": round(torch_ndcg - theirs[against][key], 4),
            }
    return out


def _isa_name() -> str:
    return "avx512_vnni" if "avx512_vnni" in cpu_description()["isa_flags"] else "avx2"


def alternatives(*, repeats: int, rounds: int) -> dict[str, Any]:
    """Build the alternatives (once, for this CPU's int8 path) and measure everything
    natively and in an AVX2 child."""
    onnx_dir = ROOT / "models" / "onnx"
    if not (ROOT / "models" / "reranker").is_dir() or not (onnx_dir / "model.onnx").is_file():
        return {"skipped": "no models/reranker or models/onnx: run `make run` first"}
    if not BENCH_PYTHON.is_file():
        return {"skipped": f"no {BENCH_PYTHON.relative_to(ROOT)}: `make bench` installs it"}
    params = load_params(ROOT / "params.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="bench-alternatives-"))
    train = load_encoded(ROOT / "data" / "encoded" / "train.parquet")
    rng = np.random.default_rng(params.run.seed)
    take = np.sort(
        rng.choice(len(train), min(params.export.calibration_pairs, len(train)), replace=False)
    )
    (tmp / "calibration.json").write_text(
        json.dumps(train.iloc[take][["query", "title"]].values.tolist())
    )
    isa = _isa_name()
    done = subprocess.run(
        [str(BENCH_PYTHON), str(ROOT / "bench" / "alternatives_build.py"),
         "--model", str(ROOT / "models" / "reranker"), "--calibration", str(tmp / "calibration.json"),
         "--out", str(tmp / "built"), "--isa", isa, "--max-length", str(params.encode.max_length)],
        # Libraries that write scratch files beside themselves write them there, not here.
        cwd=tmp, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"skipped": f"building the alternatives failed: {tail[0]}"}
    files = {n: str(onnx_dir / f) for n, f in OURS.items() if (onnx_dir / f).is_file()}
    files.update(json.loads((tmp / "built" / "built.json").read_text()))
    (tmp / "files.json").write_text(json.dumps(files))
    paths: dict[str, Any] = {"native": measure(files, repeats=repeats, rounds=rounds)}
    # The bench's other paths (bench/children.py): AVX2 where CPUID can be masked, and on
    # an AMX CPU its AVX-512 VNNI path with AMX refused.
    flags = cpu_description()["isa_flags"]
    if reason := cpuid.unavailable():
        paths["avx2"] = {"skipped": f"CPUID cannot be masked here ({reason})"}
    else:
        paths["avx2"] = _child(tmp, "--avx2", "avx2", repeats, rounds)
    if "amx_tile" in flags and "avx512_vnni" in flags:
        paths["no_amx"] = _child(tmp, "--no-amx", "no_amx", repeats, rounds)
    k = params.evaluate.k
    return {
        "int8_isa_config": isa,
        "paths": paths,
        "targets": {p: targets(rows, k) for p, rows in paths.items() if "skipped" not in rows},
    }


def _child(tmp: Path, mask: str, name: str, repeats: int, rounds: int) -> dict[str, Any]:
    """`measure` in a child process behind a `tools.isa` mask."""
    out = tmp / f"{name}.json"
    child = subprocess.run(
        [sys.executable, "-m", "tools.isa", mask, "-m", "bench.alternatives",
         str(tmp / "files.json"), str(out), str(repeats), str(rounds)],
        cwd=ROOT,
    )  # fmt: skip
    if child.returncode != 0:
        return {"skipped": f"the {name} child failed (exit status {child.returncode})"}
    return json.loads(out.read_text())


def print_alternatives(result: dict[str, Any]) -> None:
    if "skipped" in result:
        print(f"[alternatives] skipped: {result['skipped']}")
        return
    for path, rows in result["paths"].items():
        if "skipped" in rows:
            print(f"[alternatives {path}] skipped: {rows['skipped']}")
            continue
        print(
            f"[alternatives {path}] b1 median / p99 ms, b32 pairs/s, served max |diff| vs torch, test nDCG@10, MB"
        )
        for name, r in rows.items():
            print(
                f"  {name:34s} {r['b1_median_ms']:7.2f} {r['b1_p99_ms']:7.2f} "
                f"{r['b32_pairs_per_s']:8.1f} {r.get('served_max_abs_diff_vs_torch', 0.0):8.4f} "
                f"{r[next(k for k in r if k.startswith('ndcg@'))]:.4f} {r.get('size_mb', '')}"
            )
        for name, t in result["targets"].get(path, {}).items():
            print(
                f"  target {name}: {t['speedup']}x {t['against']} (target >= {t['target']}x, "
                f"{'met' if t['met'] else 'not met'}); nDCG loss vs torch {t['ndcg_loss']} "
                f"(theirs {t['their_ndcg_loss']})"
            )


def main() -> None:
    """A child on another path: `python -m tools.isa --avx2 | --no-amx -m
    bench.alternatives FILES OUT REPEATS ROUNDS`."""
    files, out = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    rows = measure(files, repeats=int(sys.argv[3]), rounds=int(sys.argv[4]))
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
