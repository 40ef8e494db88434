"""Run one process as if its CPU had fewer instruction sets: an AVX2-only CPU (CPUID masked,
`cpuid.py`) or an AVX-512 VNNI CPU without AMX (AMX refused, `amx.py`).

Tests use it to check that a result holds on the CPUs users have (AMD Zen 3 and 4, older
Intel), the bench to measure them. It imports nothing of the project:

    python -m tools.isa --avx2 -m bench.run --child avx2
    python -m tools.isa --no-amx -c "import onnxruntime; ..."
"""
