"""Export to ONNX, the gates an export must pass (contract, parity, int8 quality), and int8
quantization. Depends on `ranker.model` (the PyTorch reference) and `ranker.serve`."""
