"""benchctl: declarative GitOps benchmarking of LLM providers, models and coding-agent harnesses."""

__version__ = "0.1.0"
