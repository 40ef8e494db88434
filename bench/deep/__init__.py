"""Investigations behind the headline ratios (`make bench-deep`): each path's large-GEMM
limits (limits.py), the FLOPs a step or a graph does and the fraction of those limits it
reaches (flops.py), where a training step's time goes (profile.py) and where ONNX Runtime's
goes by op (ort_profile.py). Their numbers are reported, never asserted or targeted."""
