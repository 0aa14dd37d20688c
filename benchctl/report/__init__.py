"""Comparison reports per experiment: data (SQL), statistics, model, charts, Markdown."""
