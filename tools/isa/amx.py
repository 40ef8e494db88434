"""Intel AMX on or off for one process, so that a test or the bench can run the int8 path of
the VNNI CPUs most users have (Cascade Lake, Ice Lake, AMD Zen 4: AVX-512 VNNI, no AMX) on a
CPU that also has AMX.

Linux hands out AMX per process: a library must ask with
`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)` before its first tile instruction, and
ONNX Runtime's MLAS (like oneDNN) falls back to its AVX-512 VNNI kernels when the answer is
no. A seccomp filter makes the answer no; nothing else changes (ONNX Runtime has no switch
for its kernels). `python -m tools.isa --no-amx -m MODULE ARGS` runs MODULE with the filter
installed before anything that could ask for AMX is imported.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
import sys
from typing import Any

ARCH_GET_XCOMP_PERM = 0x1022
ARCH_REQ_XCOMP_PERM = 0x1023
XFEATURE_MASK_XTILE = (1 << 17) | (1 << 18)  # tile config and tile data
SYS_ARCH_PRCTL = 158  # x86-64
AUDIT_ARCH_X86_64 = 0xC000003E
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO = 0x7FFF0000, 0x00050000
BPF_LD_W_ABS, BPF_JEQ_K, BPF_RET_K = 0x20, 0x15, 0x06


def _x86_64_linux() -> bool:
    return sys.platform.startswith("linux") and platform.machine() == "x86_64"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _filter() -> bytes:
    """A BPF program: arch_prctl(ARCH_REQ_XCOMP_PERM, ...) on x86-64 fails with EPERM,
    every other call is allowed. seccomp_data: nr at 0, arch at 4, args[0] at 16."""
    program = [
        (BPF_LD_W_ABS, 0, 0, 4),
        (BPF_JEQ_K, 0, 5, AUDIT_ARCH_X86_64),
        (BPF_LD_W_ABS, 0, 0, 0),
        (BPF_JEQ_K, 0, 3, SYS_ARCH_PRCTL),
        (BPF_LD_W_ABS, 0, 0, 16),  # the low half of args[0] (little-endian)
        (BPF_JEQ_K, 0, 1, ARCH_REQ_XCOMP_PERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | errno.EPERM),
        (BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
    ]
    return b"".join(struct.pack("=HBBI", *op) for op in program)


def deny_amx() -> None:
    """From now on this process (and the threads and children it starts) cannot get AMX.
    Raises OSError where seccomp filters cannot be installed."""
    if not _x86_64_linux():
        raise OSError(errno.ENOSYS, "AMX exists only on x86-64 Linux")
    code = _filter()
    program = ctypes.create_string_buffer(code, len(code))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(code) // 8, ctypes.addressof(program))
    libc = _libc()
    for call in (
        (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        (PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0),
    ):
        args = [ctypes.c_ulong(a) for a in call]
        if libc.prctl(*args) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"prctl({call[0]}) failed: {errno.errorcode.get(err, err)}")


def _arch_prctl(code: int, arg: Any) -> int:
    """arch_prctl(code, arg) as the libraries call it: 0, or the errno it failed with."""
    rc = _libc().syscall(ctypes.c_long(SYS_ARCH_PRCTL), ctypes.c_ulong(code), arg)
    return 0 if rc == 0 else ctypes.get_errno()


def request_amx() -> int:
    """Ask for AMX as MLAS and oneDNN do: 0 when granted, else the errno (EPERM: denied by
    deny_amx; EINVAL: a CPU or kernel without AMX)."""
    if not _x86_64_linux():
        return errno.ENOSYS
    return _arch_prctl(ARCH_REQ_XCOMP_PERM, ctypes.c_ulong(18))


def amx_state() -> str:
    """Whether this process holds AMX now: 'granted' (some library asked and got it),
    'not granted', or 'unknown' (not x86-64 Linux, or a kernel before 5.16)."""
    if not _x86_64_linux():
        return "unknown"
    mask = ctypes.c_uint64(0)
    if _arch_prctl(ARCH_GET_XCOMP_PERM, ctypes.byref(mask)) != 0:
        return "unknown"
    return "granted" if mask.value & XFEATURE_MASK_XTILE == XFEATURE_MASK_XTILE else "not granted"
