"""The promoted model as the ranker holds it: loading a registry version (checksums verified), building its
inputs from ``feature_schema.json``, scoring, and the background watcher that swaps versions."""
