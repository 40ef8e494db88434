"""Memory of the download stage follows what a source's judgements need, not its size: each
shape is measured at 30 and 120 MB in fresh processes (tools/source_memory.py, which `make
bench` runs larger), and the peak may grow by only a fraction of what the file grew."""

from __future__ import annotations

import pytest

from tools.source_memory import source_peak


@pytest.mark.parametrize(
    ("shape", "share"),
    [
        # Pairs: validation remembers ~30 bytes of each ~190-byte row (ranker/data/ledger.py)
        # and the corpus 8; Python dicts of the same had grown 1.7 MiB per MB of file.
        ("jsonl", 0.5),
        # A collection keeps only the judged documents' texts: each other document costs 8
        # bytes of the corpus's deduplication.
        ("beir", 0.1),
        ("trec", 0.1),
    ],
)
def test_peak_memory_grows_by_a_fraction_of_the_file(shape: str, share: float) -> None:
    small, large = source_peak(shape, 30), source_peak(shape, 120)
    assert "error" not in small and "error" not in large, (small, large)
    assert large["corpus_docs"] > 3 * small["corpus_docs"], (small, large)
    grew = large["peak_rss_mib"] - small["peak_rss_mib"]
    # 10 MiB of slack: the allocator's arenas, not the data (a collection grew 16 MiB from
    # 20 to 81 MB and shrank 10 from 101 to 405).
    assert grew < share * (large["file_mb"] - small["file_mb"]) + 10, (small, large)
