"""Vespa: the application package the export stage writes, and a numpy re-implementation of
how Vespa builds a cross-encoder's inputs, to prove it computes what the pipeline evaluated."""
