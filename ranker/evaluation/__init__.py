"""Quality numbers: ranking and classification metrics, uncertainty and significance."""
