"""Manifests: loading YAML with locations, the models of each kind, and repository-wide checks."""
