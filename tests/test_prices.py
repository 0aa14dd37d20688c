"""Costs against hand-computed bills from the providers' published prices.

Claude Sonnet 4.5, from Anthropic's price page (https://docs.claude.com/en/docs/about-claude/
pricing, "Model pricing" and "Long context pricing", read 2026-11): per million tokens, input
$3, 5-minute cache writes $3.75, 1-hour cache writes $6, cache hits $0.30, output $15; a request
with more than 200,000 input tokens is billed whole at $6 input, $7.50 and $12 cache writes,
$0.60 cache hits and $22.50 output. LiteLLM's own cost for the same usage is printed beside.
"""

from __future__ import annotations

import os

import pytest

from benchctl.manifests.loader import load_valid_repository
from benchctl.manifests.models.provider import Prices, cost

from conftest import REPO_ROOT

SONNET = (
    load_valid_repository(REPO_ROOT)
    .providers["anthropic"]
    .model.spec.models["claude-sonnet-4-5"]
    .prices
)

# (prompt incl. cache, completion, cache reads, cache writes, of which 1-hour) -> the bill.
BILLS = [
    # 20,000 uncached x $3 + 20,000 reads x $0.30 + 10,000 1-hour writes x $6 + 1,000 x $15.
    ((50_000, 1_000, 20_000, 10_000, 10_000), 0.141),
    # As above but 5-minute writes: 10,000 x $3.75.
    ((50_000, 1_000, 20_000, 10_000, 0), 0.1185),
    # Long context, whole request at the tier: 130,000 x $6 + 100,000 x $0.60
    # + 10,000 x $7.50 + 10,000 x $12 + 2,000 x $22.50.
    ((250_000, 2_000, 100_000, 20_000, 10_000), 1.08),
    # Exactly 200,000 input tokens is not more than 200,000: base prices.
    ((200_000, 0, 0, 0, 0), 0.6),
]


@pytest.mark.parametrize(("usage", "bill"), BILLS)
def test_sonnet_bills(usage, bill):
    assert cost(SONNET, *usage) == pytest.approx(bill, rel=1e-12)


def test_a_per_request_minimum_and_defaults():
    prices = Prices(input=1.0, output=2.0, minimum_usd=0.01)
    assert cost(prices, 100, 10, 0, 0) == 0.01  # 0.00012 billed as the minimum
    # Without cache prices, cache tokens cost the input price; 1-hour writes the write price.
    plain = Prices(input=1.0, output=2.0, cache_write=1.25)
    assert cost(plain, 1_000_000, 0, 0, 1_000_000, 400_000) == pytest.approx(1.25)


def test_litellms_own_cost_is_printed_beside_ours():
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # its bundled map, offline
    litellm = pytest.importorskip("litellm", reason="LiteLLM is the proxy extra's")
    for (prompt, completion, read, write, _), bill in BILLS:
        theirs = litellm.cost_per_token(
            model="claude-sonnet-4-5", prompt_tokens=prompt, completion_tokens=completion,
            cache_read_input_tokens=read, cache_creation_input_tokens=write,
        )  # fmt: skip
        print(f"usage {prompt}/{completion}/{read}/{write}: ours ${bill:.6f},"
              f" LiteLLM ${sum(theirs):.6f}")  # fmt: skip
        assert sum(theirs) > 0


def test_a_tier_without_cache_prices_takes_the_base_ones():
    prices = Prices(
        input=3.0, output=15.0, cache_read=0.3,
        tiers=[{"above_input_tokens": 200_000, "input": 6.0, "output": 22.5}],
    )  # fmt: skip
    # 600k prompt, 500k of it cached: 100k x $6 + 500k x $0.30 (the base cache price).
    assert cost(prices, 600_000, 0, 500_000, 0) == pytest.approx(0.75)


def test_the_minimum_is_not_charged_without_usage():
    assert cost(Prices(input=1.0, output=2.0, minimum_usd=0.01), 0, 0, 0, 0) == 0.0
