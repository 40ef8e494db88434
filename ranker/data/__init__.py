"""Data: fetch and validate (query, title, label) pairs, split them by query, and the
synthetic sample. Depends on the top level only (config, errors, files)."""
