"""Executable task cards: fresh workspaces, setup, verifiers, oracles and `task check`."""
