"""Fine-tune a BERT cross-encoder for search relevance and export it to ONNX."""

from __future__ import annotations

__version__ = "0.1.0"
