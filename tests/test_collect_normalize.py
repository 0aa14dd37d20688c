"""Normalization of real LiteLLM 1.106.2 spend-log rows (captured, scrubbed, in
tests/fixtures/litellm).

Pure logic: a hand-built context stands in for the benchmark database.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fixtures.litellm.spendlogs import captured

from benchctl.collect.context import CapturePolicy, Context, SessionRef
from benchctl.collect.normalize import (
    NOT_BENCHCTL,
    OTHER_DATABASE,
    Normalized,
    Skipped,
    Unattributed,
    cost,
    normalize,
    redact,
)
from benchctl.collect.spend_row import from_api
from benchctl.manifests.models.provider import Prices

STREAMING = captured("spend_log_row_streaming.json")
NON_STREAMING = captured("spend_log_row_non_streaming.json")
FAILURE = captured("spend_log_row_failure.json")
V2 = captured("spend_logs_v2.json")
KEY_HASH = STREAMING["api_key"]
ALIAS = STREAMING["metadata"]["user_api_key_alias"]  # selftest-cb6286e7
PREFIX = "benchctl-1a2b3c4d-"
SESSION = SessionRef(
    id=uuid.UUID("6c1f3f0e-7a44-5b8e-9f51-0d3c2b8a9e11"),
    experiment="demo",
    variant="fake-gpt",
    variant_version=2,
    task_card="task",
    task_card_version=1,
    key_alias=ALIAS,
    status="open",
    opened_at=None,
    ended_at=None,
)
# The captured proxy priced fake-gpt at 1e-6 / 2e-6 USD per input / output token.
PRICES = Prices(input=1.0, output=2.0, cache_read=0.1)


def context(**changes) -> Context:
    base = {
        "by_hash": {KEY_HASH: SESSION},
        "by_alias": {ALIAS: SESSION},
        "alias_prefix": PREFIX,
        "prices": {("fake-gpt", 2): PRICES},
        "latest_version": {"fake-gpt": 2},
        "capture": {},
    }
    return Context(**{**base, **changes})


def request(row: dict, ctx: Context | None = None):
    result = normalize(from_api(row), ctx or context())
    assert isinstance(result, Normalized)
    return result.request


def test_streamed_call():
    r = request(STREAMING)
    assert r.request_id == "chatcmpl-7763e121249645f28d42"
    assert r.litellm_call_id == "ac8334d1-6062-4252-a1b5-a6d0acb4dfd6"
    assert r.provider_request_id == r.request_id
    assert (r.session_id, r.experiment, r.variant, r.variant_version) == (
        SESSION.id,
        "demo",
        "fake-gpt",
        2,
    )
    assert (r.key_hash, r.key_alias, r.joined_by) == (KEY_HASH, ALIAS, "key_hash")
    assert (r.requested_model, r.routed_model, r.provider) == (
        "fake-gpt",
        "openai/fake-model",
        "openai",
    )
    assert r.started_at == datetime(2026, 11, 21, 1, 39, 34, 175000, tzinfo=UTC)
    assert r.latency_ms == 48.0
    assert (r.ttft_ms, r.ttft_quality, r.streamed) == (23.0, "measured", True)
    assert r.output_tokens_per_s == pytest.approx(6 / 0.025)
    assert (r.prompt_tokens, r.completion_tokens, r.cached_read_tokens, r.reasoning_tokens) == (
        9,
        6,
        0,
        0,
    )
    assert r.cost_usd == pytest.approx(2.1e-5) and r.litellm_spend_usd == 2.1e-05
    assert (r.status, r.error_class, r.error_code) == ("success", None, None)
    assert r.proxy_overhead_ms is None and r.tag_mismatch is False


def test_non_streamed_call_has_no_measured_ttft():
    r = request(NON_STREAMING)
    assert r.streamed is False
    # completionStartTime is a millisecond before endTime: the whole answer at once.
    assert (r.ttft_ms, r.latency_ms, r.ttft_quality) == (279.0, 280.0, "equal_to_total")
    assert r.output_tokens_per_s == pytest.approx(6 / 0.280)
    assert r.proxy_overhead_ms == pytest.approx(226.9678)


def test_refused_call():
    r = request(FAILURE)
    assert (r.status, r.error_class, r.error_code) == (
        "failure",
        "ModelAccessDeniedProxyException",
        "403",
    )
    assert r.request_id == r.litellm_call_id and r.provider_request_id is None
    assert r.streamed is None and r.ttft_quality == "equal_to_total"
    assert r.output_tokens_per_s is None
    # It asked for a model that is not the session's variant: no prices known for it.
    assert r.requested_model == "fake-gpt-other" and r.cost_usd is None
    assert (r.prompt_tokens, r.completion_tokens) == (0, 0)


def test_v2_rows_of_other_keys_are_skipped():
    results = [normalize(from_api(row), context()) for row in V2["data"]]
    assert results == [Skipped(row["request_id"], NOT_BENCHCTL, None) for row in V2["data"]]


def test_v2_rows_parse_like_the_list_endpoint():
    row = from_api(V2["data"][0])
    assert row.started_at == datetime(2026, 11, 21, 1, 11, 53, 366000, tzinfo=UTC)
    assert row.overhead_ms == pytest.approx(7.4639)
    assert row.request_tags[:2] == ["bench", "sess-001"]


def test_a_replaced_key_joins_by_its_alias():
    r = request(STREAMING, context(by_hash={}))
    assert r.joined_by == "key_alias" and r.session_id == SESSION.id


def test_rows_of_this_databases_keys_without_session_are_unattributed():
    row = {**STREAMING, "metadata": {**STREAMING["metadata"], "user_api_key_alias": PREFIX + "x"}}
    result = normalize(from_api(row), context(by_hash={}, by_alias={}))
    assert isinstance(result, Unattributed)
    assert result.reason == "its key alias has this database's prefix but names no session"
    sid = str(uuid.uuid4())
    row["metadata"]["user_api_key_alias"] = PREFIX + sid
    result = normalize(from_api(row), context(by_hash={}, by_alias={}))
    assert result.reason == f"its key alias names session {sid}, which this database does not have"


def test_another_benchctl_databases_keys_are_skipped():
    alias = "benchctl-ffffffff-" + str(uuid.uuid4())
    row = {**STREAMING, "metadata": {**STREAMING["metadata"], "user_api_key_alias": alias}}
    result = normalize(from_api(row), context(by_hash={}, by_alias={}))
    assert result == Skipped(STREAMING["request_id"], OTHER_DATABASE, from_api(row).updated_at)


@pytest.mark.parametrize(
    ("tags", "mismatch"),
    [
        (["benchctl", f"session:{SESSION.id}", "variant:fake-gpt", "User-Agent: x"], False),
        ([f"session:{uuid.uuid4()}"], True),
        (["experiment:other"], True),
        ([], False),
    ],
)
def test_tags_are_a_cross_check(tags, mismatch):
    assert request({**STREAMING, "request_tags": tags}).tag_mismatch is mismatch


def test_cache_tokens_and_cost():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 600},
        "cache_creation_input_tokens": 200,
        "completion_tokens_details": {"reasoning_tokens": 40},
    }
    row = {**STREAMING, "metadata": {**STREAMING["metadata"], "usage_object": usage}}
    r = request(row)
    assert (r.cached_read_tokens, r.cache_write_tokens, r.reasoning_tokens) == (600, 200, 40)
    # 200 uncached at 1.0, 600 read at 0.1, 200 written at the input price, 100 out at 2.0.
    assert r.cost_usd == pytest.approx((200 * 1.0 + 600 * 0.1 + 200 * 1.0 + 100 * 2.0) / 1e6)
    assert r.streamed is False  # no `cost` in this usage object


def test_cost_prices_per_million():
    prices = Prices(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75)
    assert cost(prices, 1_000_000, 0, 0, 0) == 3.0
    assert cost(prices, 2_000_000, 1_000_000, 1_000_000, 1_000_000) == pytest.approx(
        0.3 + 3.75 + 15.0
    )


def test_content_only_when_captured_and_redacted():
    row = {
        **STREAMING,
        "messages": [{"role": "user", "content": "token=abc123 hello"}],
        "response": {"choices": [{"message": {"content": "abc123 back"}}]},
    }
    assert normalize(from_api(row), context()).content is None
    policy = CapturePolicy(redact=(re.compile(r"abc\d+"),), retention=timedelta(days=7))
    result = normalize(from_api(row), context(capture={"demo": policy}))
    assert result.content.messages == [{"role": "user", "content": "token=[redacted] hello"}]
    assert result.content.response == {"choices": [{"message": {"content": "[redacted] back"}}]}
    assert result.content.expires_at - result.content.captured_at == timedelta(days=7)
    # LiteLLM stores {} when it keeps no content: nothing to capture.
    assert normalize(from_api(STREAMING), context(capture={"demo": policy})).content is None


def test_redact_reaches_keys_and_nested_values():
    policy = CapturePolicy(redact=(re.compile("s3cr3t"),), retention=timedelta(days=1))
    assert redact({"s3cr3t": ["a s3cr3t", 1, None]}, policy) == {
        "[redacted]": ["a [redacted]", 1, None]
    }


def test_normalizing_twice_gives_the_same_row():
    assert request(STREAMING) == request(STREAMING)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ({"error_code": "403", "normalized_error": "403_MODEL_ACCESS_DENIED"}, "403"),
        # What LiteLLM 1.106.2 logs for a 500 of the simulated upstream, and for a budget.
        ({"error_code": "server_error", "normalized_error": "500_PROVIDER_INTERNAL_ERROR"}, "500"),
        ({"error_code": "422", "normalized_error": "429_BUDGET_EXCEEDED"}, "422"),
        ({"error_code": "weird", "normalized_error": None}, "weird"),
    ],
)
def test_error_code_is_the_http_status(error, code):
    row = {**FAILURE, "metadata": {**FAILURE["metadata"], "error_information": error}}
    assert request(row).error_code == code


def test_a_call_after_the_session_ended_is_not_the_sessions():
    """A harness still calling with the revoked key of a finalized session: kept, counted
    apart, never among the session's requests or errors."""
    row = from_api(STREAMING)
    ended = SessionRef(
        **{
            **SESSION.__dict__,
            "status": "finalized",
            "ended_at": row.started_at - timedelta(seconds=60),
        }
    )
    result = normalize(row, context(by_hash={KEY_HASH: ended}, by_alias={ALIAS: ended}))
    assert isinstance(result, Unattributed)
    assert result.reason.startswith("made after its session ended") and "finalized" in result.reason
    # Ended after the call started: the session's own.
    later = SessionRef(**{**ended.__dict__, "ended_at": row.started_at + timedelta(seconds=1)})
    assert isinstance(normalize(row, context(by_hash={KEY_HASH: later})), Normalized)


def test_a_failed_call_without_usage_costs_nothing():
    failed = {
        **NON_STREAMING,
        "status": "failure",
        "prompt_tokens": 1200,
        "completion_tokens": 0,
        "metadata": {
            **NON_STREAMING["metadata"],
            "usage_object": {},
            "error_information": {"error_class": "InternalServerError", "error_code": "500"},
        },
    }
    r = request(failed)
    assert r.status == "failure" and r.prompt_tokens == 1200
    assert r.cost_usd == 0.0
    # With a usage object, the provider billed it: priced as usual.
    billed = {**failed, "metadata": {**failed["metadata"], "usage_object": {"prompt_tokens": 1200}}}
    assert request(billed).cost_usd == pytest.approx(1200 * PRICES.input / 1_000_000)


def test_a_call_begun_within_the_grace_of_the_end_is_the_sessions():
    """The proxy's and the database's clocks may differ by a few seconds."""
    row = from_api(STREAMING)
    ended = SessionRef(
        **{
            **SESSION.__dict__,
            "status": "finalized",
            "ended_at": row.started_at - timedelta(seconds=5),
        }
    )
    assert isinstance(normalize(row, context(by_hash={KEY_HASH: ended})), Normalized)


def test_a_401_of_an_ended_session_is_apart_whatever_the_clocks():
    failure = {
        **FAILURE,
        "metadata": {
            **FAILURE["metadata"],
            "error_information": {**FAILURE["metadata"]["error_information"], "error_code": "401"},
        },
    }
    row = from_api(failure)
    ended = SessionRef(**{**SESSION.__dict__, "status": "finalized", "ended_at": row.started_at})
    result = normalize(row, context(by_hash={row.api_key: ended}))
    assert isinstance(result, Unattributed) and result.reason.startswith("made after")
