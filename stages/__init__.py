"""DVC stage entry points: each parses its paths from dvc.yaml and calls one function."""
