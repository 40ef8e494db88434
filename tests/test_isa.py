"""tools/isa: a process run as an AVX2-only CPU or as a VNNI CPU without AMX.

These are the premises of every cross-CPU test (tests/test_export.py, tests/test_rerank_cli.py)
and of the bench's avx2 and no_amx paths."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tools.isa.cpuid import AVX2_ONLY, unavailable


def isa_run(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m tools.isa ARGS` from the repo root."""
    return subprocess.run(
        [sys.executable, "-m", "tools.isa", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,  # a handler that answered its own fault forever would hang here
    )


def test_a_module_runs_as_main_with_its_own_arguments() -> None:
    """`-m MODULE ARGS` is `python -m MODULE ARGS` (runpy): no mask asked, nothing changed."""
    done = isa_run("-m", "json.tool", "--compact", "--help")
    assert done.returncode == 0, done.stderr
    assert "json.tool" in done.stdout and "--compact" in done.stdout


def test_a_mask_this_machine_cannot_install_is_one_line_and_exit_2() -> None:
    """A caller that asked for another CPU must never get this one's numbers unannounced."""
    # No C compiler to build the mask with: refused on any machine, masking CPU or not.
    done = isa_run("--avx2", "-c", "print('ran')", CC="/nonexistent/cc")
    assert done.returncode == 2 and "ran" not in done.stdout
    assert done.stderr.strip().startswith("error: tools.isa: ") and done.stderr.count("\n") == 1


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
    reason="AMX permission exists only on x86-64 Linux",
)
def test_a_process_with_amx_denied_cannot_get_it() -> None:
    """The no_amx child's premise: after deny_amx() the request ONNX Runtime's MLAS makes
    before its AMX kernels fails with the filter's EPERM (so it runs its VNNI kernels), on a
    CPU with AMX or without, and other calls, arch_prctl's own included, still work."""
    code = (
        "import errno, json, os; from tools.isa.amx import amx_state, request_amx; "
        "print(json.dumps([errno.errorcode[request_amx()], amx_state(), os.getpid() > 0]))"
    )
    done = isa_run("--no-amx", "-c", code)
    assert done.returncode == 0, done.stderr
    request, state, other_calls = json.loads(done.stdout)
    assert request == "EPERM" and other_calls
    assert state in ("not granted", "unknown")  # unknown: a kernel before 5.16


def _masked_run(code: str) -> subprocess.CompletedProcess:
    return isa_run("--avx2", "-c", "from tools.isa import cpuid; " + code)


@pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")
def test_a_process_with_cpuid_masked_sees_an_avx2_only_cpu() -> None:
    """The avx2 child's premise: after mask_to_avx2() the libraries that pick kernels from
    CPUID see AVX2 and nothing above it, whatever this CPU has, and the mask answered them."""
    code = (
        "import json, torch; from numpy._core._multiarray_umath import __cpu_features__ as f; "
        "print(json.dumps([f['AVX2'], f['FMA3'], f['AVX512F'], f['AVX512_SKX'], "
        "torch.backends.cpu.get_cpu_capability(), cpuid.mask_state()]))"
    )
    done = _masked_run(code)
    assert done.returncode == 0, done.stderr
    avx2, fma, avx512f, skx, torch_isa, state = json.loads(done.stdout)
    assert (avx2, fma, avx512f, skx, torch_isa) == (True, True, False, False, "AVX2")
    answered = int(state.split("(")[1].split()[0])
    assert state.startswith("avx2 (") and answered > 0


@pytest.mark.skipif(bool(unavailable()), reason=unavailable() or "")
def test_a_real_crash_in_a_masked_process_still_crashes() -> None:
    """The handler answers CPUID only: any other SIGSEGV reaches the default action, so a
    crashing child dies (and the bench reports it) instead of looping in the handler."""
    done = _masked_run("import ctypes; ctypes.string_at(0)")
    assert done.returncode == -signal.SIGSEGV


def test_the_avx2_only_mask_clears_what_an_avx2_cpu_lacks() -> None:
    """Every 512-bit, VNNI and AMX feature bit MLAS, oneDNN or cpuinfo test is cleared; AVX2,
    FMA and the rest of leaf 7 (BMI2, VAES, ...) stay as the CPU has them."""
    cleared = {name: (key, bit) for key, bits in AVX2_ONLY.items() for name, bit in bits.items()}
    assert cleared["avx512f"] == ((7, 0, "ebx"), 16)
    assert cleared["avx512_vnni"] == ((7, 0, "ecx"), 11)
    assert cleared["avx_vnni"] == ((7, 1, "eax"), 4)
    assert cleared["amx_int8"] == ((7, 0, "edx"), 25)
    kept = {(7, 0, "ebx"): (5, 8, 3), (7, 0, "ecx"): (9, 10)}  # avx2 bmi2 bmi1; vaes vpclmul
    for key, bits in kept.items():
        assert not set(bits) & set(AVX2_ONLY[key].values())
    for bits in AVX2_ONLY.values():
        assert len(set(bits.values())) == len(bits) and all(0 <= b < 32 for b in bits.values())
