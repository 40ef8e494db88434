"""Scaling out: peak memory of each stage at 1x and 10x the reference set, training
throughput with 1 and 2 data-parallel processes, and the batch reranking mode's pairs/s."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.common import ROOT
from ranker.data.sample import generate_sample

# Runs a command and prints its peak RSS: a small parent, so ru_maxrss of its children is
# the stage's own high-water mark (the largest process, workers included).
PEAK = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:])\n"
    "print('peak_kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(r.returncode)"
)


def distinct_pairs(rows: int) -> Any:
    """`rows` distinct pairs over the sample's 50 queries: generated titles, each made
    unique by a trailing number (duplicates would be dropped by validation)."""
    pool = generate_sample(pairs_per_query=10_000)
    picked = pool.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)
    picked["title"] = picked["title"] + " " + picked.index.astype(str)
    return picked


def _stage_cmds(workdir: Path) -> dict[str, list[str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {
        name: [sys.executable, *stages[name]["cmd"].split()[1:]]
        for name in ("download", "split", "encode", "train")
    }


def stage_memory(rows: int, train_steps: int = 20) -> dict[str, Any]:
    """Peak RSS (MiB) and wall time of download, split, encode and train (a few steps) on
    `rows` generated pairs, each stage its own process as under `dvc repro`."""
    work = Path(tempfile.mkdtemp(prefix=f"bench-scale-{rows}-"))
    try:
        distinct_pairs(rows).to_csv(work / "pairs-in.csv", index=False)
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["data"]["source"] = str(work / "pairs-in.csv")
        # One validation query (evaluated once) and one test query: the measurement is of
        # the training set's size.
        params["split"].update(valid_size=0.02, test_size=0.02)
        train_rows = rows * 48 // 50
        params["train"]["epochs"] = train_steps * params["train"]["batch_size"] / train_rows
        (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        env = dict(os.environ, PYTHONPATH=str(ROOT), RANKER_LOG_LEVEL="WARNING")
        out: dict[str, Any] = {"rows": rows}
        for name, cmd in _stage_cmds(work).items():
            start = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", PEAK, *cmd],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
            )
            if proc.returncode:
                out[name] = {"error": proc.stderr.strip().splitlines()[-1]}
                break
            peak = int(re.findall(r"peak_kib (\d+)", proc.stderr)[-1])
            out[name] = {
                "peak_rss_mib": round(peak / 1024),
                "wall_s": round(time.perf_counter() - start, 1),
            }
        out["download_to_encode_peak_mib"] = max(
            out[n].get("peak_rss_mib", 0) for n in ("download", "split", "encode") if n in out
        )
        out["encoded_train_mib"] = (
            round((work / "data" / "encoded" / "train.parquet").stat().st_size / 2**20, 1)
            if (work / "data" / "encoded" / "train.parquet").is_file()
            else None
        )
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ddp_throughput(steps: int = 30, workers: tuple[int, ...] = (1, 2)) -> dict[str, Any]:
    """Training pairs/s of the train stage's Trainer with 1 and 2 torchrun workers on this
    machine (run.threads cores shared), the same global batch and steps."""
    out: dict[str, Any] = {"cores": os.cpu_count(), "steps": steps}
    for n in workers:
        cmd = [sys.executable, "-m", "bench.ddp_worker", "--steps", str(steps), "--workers", str(n)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode:
            out[f"workers_{n}"] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
            continue
        out[f"workers_{n}"] = json.loads(proc.stdout.strip().splitlines()[-1])
    if "samples_per_s" in out.get("workers_1", {}) and "samples_per_s" in out.get("workers_2", {}):
        out["speedup_2_vs_1"] = round(
            out["workers_2"]["samples_per_s"] / out["workers_1"]["samples_per_s"], 2
        )
    return out


def batch_rerank_throughput(model_dir: Path = ROOT / "models" / "onnx") -> dict[str, Any]:
    """Pairs/s of `ranker-rerank --pairs` (fp32 and int8, all cores) on 4,000 sample pairs."""
    from ranker.serve.batch import rerank_file
    from ranker.serve.rerank import Reranker, RerankError

    if not (model_dir / "ranker.json").is_file():
        return {"skipped": f"{model_dir} has no exported model: run `make run` first"}
    pairs = generate_sample(pairs_per_query=80).sort_values("query", kind="stable")
    out: dict[str, Any] = {"pairs": len(pairs)}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.tsv"
        qids = {q: f"q{i}" for i, q in enumerate(sorted(pairs["query"].unique()))}
        pairs.assign(
            query_id=pairs["query"].map(qids), doc_id=[f"d{i}" for i in range(len(pairs))]
        )[["query_id", "doc_id", "query", "title"]].to_csv(path, sep="\t", index=False)
        for variant in ("fp32", "int8"):
            try:
                reranker = Reranker(model_dir, variant, 0)
            except RerankError as exc:
                out[variant] = {"skipped": str(exc)}
                continue
            start = time.perf_counter()
            rerank_file(reranker, pairs_path=str(path), run_path=str(Path(tmp) / f"{variant}.run"))
            wall = time.perf_counter() - start
            out[variant] = {"pairs_per_s": round(len(pairs) / wall, 1), "wall_s": round(wall, 2)}
    return out
