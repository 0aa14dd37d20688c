"""Headless runs: `benchctl run` executes an experiment's open headless sessions."""
