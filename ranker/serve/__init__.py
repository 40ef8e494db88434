"""Serving without torch: the ONNX contract, ONNX Runtime sessions, and the reranking CLI.
Imports neither torch nor transformers (a test enforces it); depends on the top level only."""
