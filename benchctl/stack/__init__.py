"""The local stack behind `benchctl up`: PostgreSQL, simulators, Redis, LiteLLM, Prometheus.

state.py       .benchctl/stack/state.json: what runs, with pids and process identities
processes.py   start detached, wait for health, stop by pid with an identity check
parts.py       each part: how it starts, where it logs, how its health is probed
prometheus.py  the scrape config for every proxy instance's /metrics/
control.py     up, down, status
"""

from benchctl.stack.control import (
    PartStatus,
    Progress,
    StackOptions,
    StackStatus,
    down,
    status,
    up,
)

__all__ = ["PartStatus", "Progress", "StackOptions", "StackStatus", "down", "status", "up"]
