"""Development tools shared by the tests and the bench, and depended on by neither the
product (`ranker/`, `stages/`) nor each other: `isa` runs a process as another CPU,
`trec_memory` measures a fresh process reading a generated CORD-19-sized metadata.csv.
Each is tested where tests use it (tests/test_isa.py, tests/test_trec_source.py)."""
