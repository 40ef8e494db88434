"""An AVX2-only CPU for one process, on a CPU with more: the kernels of the CPUs most users
have (AMD Zen 3, Intel before Ice Lake), ONNX Runtime's included.

torch's own kernels can be capped by environment variables (children.AVX2_ENV); ONNX
Runtime's MLAS cannot: it picks its kernels from CPUID. With CPUID faulting (Linux
`arch_prctl(ARCH_SET_CPUID)`, /proc/cpuinfo flag `cpuid_fault`) every CPUID instruction of
the process traps, and a signal handler (`cpuid_mask.c`, built here with the system's C
compiler) answers it with the AVX-512, AVX-VNNI and AMX bits cleared. Every library that
reads CPUID after that (MLAS, oneDNN, MKL, torch's cpuinfo, NumPy) then runs its AVX2
kernels, on this CPU's hardware. `python -m tools.isa --avx2 -m MODULE ARGS` runs MODULE
with the mask installed before anything that reads CPUID is imported.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("cpuid_mask.c")
REGISTERS = ("eax", "ebx", "ecx", "edx")

# What an AVX2-only x86-64 CPU does not have, by CPUID leaf 7 (sub-leaf, register): bit.
# AVX-VNNI (the VEX form, Alder Lake and later) goes too: MLAS has int8 kernels for it.
AVX2_ONLY: dict[tuple[int, int, str], dict[str, int]] = {
    (7, 0, "ebx"): {
        "avx512f": 16, "avx512dq": 17, "avx512ifma": 21, "avx512pf": 26,
        "avx512er": 27, "avx512cd": 28, "avx512bw": 30, "avx512vl": 31,
    },
    (7, 0, "ecx"): {
        "avx512vbmi": 1, "avx512_vbmi2": 6, "avx512_vnni": 11, "avx512_bitalg": 12,
        "avx512_vpopcntdq": 14,
    },
    (7, 0, "edx"): {
        "avx512_4vnniw": 2, "avx512_4fmaps": 3, "avx512_vp2intersect": 8, "amx_bf16": 22,
        "avx512_fp16": 23, "amx_tile": 24, "amx_int8": 25,
    },
    (7, 1, "eax"): {"avx_vnni": 4, "avx512_bf16": 5, "amx_fp16": 21, "avx_ifma": 23},
    (7, 1, "edx"): {
        "avx_vnni_int8": 4, "avx_ne_convert": 5, "amx_complex": 8, "avx_vnni_int16": 10,
        "avx10": 19,
    },
}  # fmt: skip


class _Mask(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("leaf", "subleaf", "reg", "bits")]


_installed: ctypes.CDLL | None = None


def unavailable() -> str | None:
    """Why this process cannot mask CPUID, or None when it can."""
    if not (sys.platform.startswith("linux") and platform.machine() == "x86_64"):
        return "CPUID faulting is an x86-64 Linux feature"
    info = Path("/proc/cpuinfo")
    if "cpuid_fault" not in (info.read_text().split() if info.is_file() else []):
        return "this CPU (or its hypervisor) has no CPUID faulting (/proc/cpuinfo: cpuid_fault)"
    if not shutil.which(os.environ.get("CC", "cc")):
        return "no C compiler (cc) to build tools/isa/cpuid_mask.c"
    return None


def _build_and_load() -> ctypes.CDLL:
    with tempfile.TemporaryDirectory(prefix="isa-cpuid-") as tmp:
        lib = Path(tmp) / "cpuid_mask.so"
        cmd = [os.environ.get("CC", "cc"), "-O2", "-shared", "-fPIC", "-o", str(lib), str(SOURCE)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["no output"])[0]
            raise OSError(errno.ENOEXEC, f"building {SOURCE.name} failed: {first}")
        return ctypes.CDLL(str(lib))  # mapped: the file may go


def mask_to_avx2() -> None:
    """From now on CPUID in this process (and the threads it starts) reports an AVX2-only
    CPU. Call it before importing anything that reads CPUID. OSError when it cannot."""
    global _installed
    if reason := unavailable():
        raise OSError(errno.ENOTSUP, reason)
    lib = _build_and_load()
    lib.cpuid_mask_emulated.restype = ctypes.c_uint64
    rows = [
        (leaf, sub, REGISTERS.index(reg), sum(1 << b for b in bits.values()))
        for (leaf, sub, reg), bits in AVX2_ONLY.items()
    ]
    table = (_Mask * len(rows))(*(_Mask(*row) for row in rows))
    if err := lib.cpuid_mask_install(table, len(rows)):
        raise OSError(err, f"arch_prctl(ARCH_SET_CPUID) failed: {errno.errorcode.get(err, err)}")
    _installed = lib


def mask_state() -> str | None:
    """'avx2 (N CPUID instructions answered)' in a masked process, else None."""
    if _installed is None:
        return None
    return f"avx2 ({_installed.cpuid_mask_emulated()} CPUID instructions answered)"
