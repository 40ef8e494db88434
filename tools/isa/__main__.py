"""`python -m tools.isa [--avx2] [--no-amx] (-m MODULE | -c CODE) [ARGS...]`.

The masks go in first, then MODULE runs as `python -m MODULE ARGS` would (through runpy), so
nothing that reads CPUID or asks for AMX is imported before them. Exit 2 with one line when
a mask cannot be installed on this machine: a caller that needs the other CPU must not get
this one's numbers by mistake.
"""

from __future__ import annotations

import argparse
import runpy
import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    # Everything after `-m MODULE` / `-c CODE` is the target's own, `--help` included, as
    # with `python -m`; argparse would claim it.
    cut = next((i + 2 for i, a in enumerate(argv) if a in ("-m", "-c")), len(argv))
    parser = argparse.ArgumentParser(prog="python -m tools.isa", description=__doc__)
    parser.add_argument("--avx2", action="store_true", help="CPUID reports an AVX2-only CPU")
    parser.add_argument("--no-amx", action="store_true", help="requests for AMX are refused")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("-m", dest="module", help="run this module as __main__")
    target.add_argument("-c", dest="code", help="run this Python code")
    ns = parser.parse_args(argv[:cut])
    rest = argv[cut:]
    # Imported here, not at the top, so `--help` needs neither ctypes nor a C compiler.
    from tools.isa import amx, cpuid

    try:
        if ns.no_amx:
            amx.deny_amx()
        if ns.avx2:
            cpuid.mask_to_avx2()
    except OSError as exc:
        print(f"error: tools.isa: {exc.strerror or exc}", file=sys.stderr)
        sys.exit(2)
    if ns.code is not None:
        sys.argv = ["-c", *rest]
        exec(compile(ns.code, "<string>", "exec"), {"__name__": "__main__"})
        return
    sys.argv = [ns.module, *rest]
    runpy.run_module(ns.module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
