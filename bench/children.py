"""Measurements in a child process: settings read once at process start (torch's ISA caps,
a preloaded malloc, AMX denied, CPUID masked) then apply to everything the child measures.
The child is `python -m bench.run --child KIND`, run through `python -m tools.isa --no-amx`
for no_amx and `--avx2` for avx2 where CPUID can be masked; its results come back as JSON."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, cpu_description
from tools.isa import cpuid

log = logging.getLogger("bench")

# What caps torch at AVX2 on a CPU with more: oneDNN's kernels, MKL's GEMMs, ATen's own.
AVX2_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
}
ALLOCATORS = {"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4"}
LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/lib")


def run_child(
    args: argparse.Namespace, kind: str, env: dict[str, str], isa: tuple[str, ...] = ()
) -> dict[str, Any]:
    """This script in a child process: settings read at process start (ISA caps, a
    preloaded allocator, the `tools.isa` masks named in `isa`) apply to everything it
    measures."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        out = Path(tmp) / "child.json"
        masks = [sys.executable, "-m", "tools.isa", *isa, "-m"] if isa else [sys.executable, "-m"]
        cmd = [*masks, "bench.run", "--child", kind, "--out", str(out)]
        cmd += ["--steps", str(args.steps), "--repeats", str(args.repeats)]
        cmd += ["--rounds", str(args.rounds), "--train-rounds", str(args.train_rounds)]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--deep"] if args.deep else []
        log.info("%s child: %s", kind, " ".join(f"{k}={v}" for k, v in env.items()))
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env})
        if done.returncode != 0:  # the other sections' numbers are kept
            log.error("%s child failed with exit status %d", kind, done.returncode)
            return {"skipped": f"the {kind} child failed (exit status {done.returncode})"}
        return json.loads(out.read_text())


def avx2_child(args: argparse.Namespace) -> dict[str, Any]:
    """native_isa() in a child whose torch is capped at AVX2 and, where the CPU can fault on
    CPUID, whose CPUID reports an AVX2-only CPU (`tools.isa --avx2`): ONNX Runtime then runs its
    AVX2 kernels too. Without CPUID faulting ONNX Runtime stays on this CPU's own path."""
    if "avx2" not in cpu_description()["isa_flags"]:
        return {"skipped": "this CPU has no AVX2"}
    if reason := cpuid.unavailable():
        log.warning("ONNX Runtime stays on this CPU's path in the avx2 child: %s", reason)
        result = run_child(args, "avx2", AVX2_ENV)
        ort = f"native: ONNX Runtime has no ISA cap and CPUID cannot be masked ({reason})"
    else:
        result = run_child(args, "avx2", AVX2_ENV, isa=("--avx2",))
        ort = "AVX2: CPUID masked (tools/isa/cpuid.py)"
    if "skipped" not in result:
        result["onnxruntime_isa"] = ort
    return result


def no_amx_child(args: argparse.Namespace) -> dict[str, Any]:
    """Reranking in a child that cannot get AMX (`tools.isa --no-amx`): ONNX Runtime's int8 then runs
    the AVX-512 VNNI kernels of the VNNI CPUs without AMX that most users have."""
    flags = cpu_description()["isa_flags"]
    if "amx_tile" not in flags or "avx512_vnni" not in flags:
        return {"skipped": "this CPU has no AMX: its native path is its int8 path"}
    return run_child(args, "no_amx", {}, isa=("--no-amx",))


def allocator_children(args: argparse.Namespace) -> dict[str, Any]:
    """The project's training step with another malloc preloaded (where installed: Debian's
    libjemalloc2 and libtcmalloc-minimal4), against glibc's in the `isas` run above."""
    out: dict[str, Any] = {}
    for name, lib in ALLOCATORS.items():
        found = [p for d in LIB_DIRS if (p := Path(d) / lib).is_file()]
        if not found:
            out[name] = {"skipped": f"{lib} is not installed"}
            continue
        out[name] = run_child(args, "allocator", {"LD_PRELOAD": str(found[0])})
    return out
