"""Reconciliation: manifests (desired) against the database and the proxy (actual), as a plan."""
