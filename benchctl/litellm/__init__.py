"""The LiteLLM proxy as benchctl sees it: its config rendered from manifests, its admin API."""
