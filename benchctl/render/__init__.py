"""Renderings of core results for people (terminal, Markdown) and machines (JSON)."""
