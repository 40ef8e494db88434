"""The first stage: BM25 over the corpus, the hits the cross-encoder reranks. Depends on
the top level, `ranker.data.corpus` and `ranker.evaluation` (its own quality)."""
