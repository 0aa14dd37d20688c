"""The LiteLLM proxy as benchctl sees it: its config rendered from manifests, its admin API."""

# Here, not in config.py, so that `benchctl render --help` shows it without the manifest models.
DEFAULT_BATCH_WRITE_SECONDS = 1
