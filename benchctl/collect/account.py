"""A harness's own account of what a session cost, read from its output as its harness profile
declares (`spec.account`): no per-harness code.

Claude Code's `--output-format json` ends with one object carrying `total_cost_usd` and
`usage`; a JSON Lines harness emits events, of which the matching ones are summed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from benchctl.errors import UsageError
from benchctl.manifests.models.harness_profile import Account

# A harness's output is text a person could read; far past this it is not one.
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
# What a bigint column holds.
_MAX_COUNT = 2**63 - 1


@dataclass(frozen=True)
class HarnessAccount:
    cost_usd: float | None
    input_tokens: int | None
    output_tokens: int | None


def _at(document: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    return document


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"the harness output's {what} is {value!r}, not a number.")
    if value < 0:
        raise UsageError(f"the harness output's {what} is negative ({value}).")
    return float(value)


def _objects(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except (ValueError, OverflowError):  # JSONDecodeError, and digits past int limits
                continue
            if isinstance(value, dict):
                found.append(value)
    return found


def read_account(account: Account, text: str) -> HarnessAccount:
    """What the output says, by the profile's paths; a UsageError when it says nothing."""
    if account.format == "json":
        try:
            whole = json.loads(text)
        except (ValueError, OverflowError):
            whole = None
        if isinstance(whole, list):  # a transcript of events: the last object is the result
            whole = next((o for o in reversed(whole) if isinstance(o, dict)), None)
        # Else the last object of a log that ends with one.
        chosen = [whole] if isinstance(whole, dict) else _objects(text)[-1:]
    else:
        chosen = [
            o for o in _objects(text) if all(_at(o, k) == v for k, v in account.match.items())
        ]
    if not chosen:
        wanted = "JSON object" if account.format == "json" else "matching JSON line"
        raise UsageError(f"the harness output holds no {wanted} to read an account from.")

    def total(path: str | None, what: str) -> float | None:
        if path is None:
            return None
        values = [_number(_at(o, path), f"{what} ({path})") for o in chosen]
        present = [v for v in values if v is not None]
        return math.fsum(present) if present else None

    cost = total(account.cost_usd, "cost")
    tokens_in = total(account.input_tokens, "input tokens")
    tokens_out = total(account.output_tokens, "output tokens")
    for count, what in ((tokens_in, "input tokens"), (tokens_out, "output tokens")):
        if count is not None and count > _MAX_COUNT:
            raise UsageError(f"the harness output's {what} ({count:.3g}) is not a token count.")
    if cost is None and tokens_in is None and tokens_out is None:
        raise UsageError("the harness output has none of the fields its profile's account names.")
    return HarnessAccount(
        cost,
        None if tokens_in is None else round(tokens_in),
        None if tokens_out is None else round(tokens_out),
    )
