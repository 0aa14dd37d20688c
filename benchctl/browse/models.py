"""What ``benchctl serve`` answers, as data: the API's response models (its OpenAPI document is
generated from them) and what the viewer's pages render.

Field names follow the database views and ``report.json`` (``session_rollups``, ``requests``,
``run_attempts``, ``verifications``), so a reader of one knows the other. Nothing here carries
a key, a key's hash, the master key or a database URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchctl.report.model import FORMAT_VERSION

SessionStatus = Literal["opening", "open", "finalizing", "finalized", "aborting", "aborted"]
Outcome = Literal["success", "partial", "failure"]
OutcomeSource = Literal["verified", "self-reported"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Verdict(_Model):
    """One metric's verdict against the baseline, as the report's summary says it."""

    metric: str
    title: str
    outcome: Literal["winner", "baseline", "no_difference", "not_enough_data", "no_baseline"]
    winner: str | None
    text: str = Field(description="The verdict in words, as the report's README prints it.")


class SessionCounts(_Model):
    sessions: int
    finalized: int
    open: int = Field(description="Sessions not yet ended (opening, open, finalizing, aborting).")
    aborted: int
    headless: int = Field(description="Sessions `benchctl run` executes.")


class ExperimentSummary(_Model):
    name: str
    version: int
    retired: bool
    description: str
    baseline: str
    counts: SessionCounts
    headline: str = Field(description="The report's one-line headline.")
    verdicts: list[Verdict]


class Experiments(_Model):
    format_version: int = FORMAT_VERSION
    experiments: list[ExperimentSummary]


class ObjectVersion(_Model):
    """A variant or task card as last applied: its name, version and manifest spec."""

    name: str
    version: int | None = Field(description="None: listed by the experiment, never applied.")
    retired: bool
    spec: dict[str, Any]


class ExperimentDetail(_Model):
    format_version: int = FORMAT_VERSION
    name: str
    version: int
    retired: bool
    description: str
    hypothesis: str
    baseline: str
    replicates: int
    counts: SessionCounts
    headline: str
    verdicts: list[Verdict]
    variants: list[ObjectVersion]
    task_cards: list[ObjectVersion]


class SessionRow(_Model):
    """A session's record and its figures (the ``session_rollups`` view)."""

    session_id: str
    experiment: str
    variant: str
    variant_version: int
    task_card: str
    task_card_version: int
    harness_profile: str
    replicate: int
    status: SessionStatus
    outcome: Outcome | None
    outcome_source: OutcomeSource | None
    reward: float | None
    counted_outcome: Outcome | None = Field(
        description="The outcome that counts in reports: verified, or self-reported where the"
        " experiment includes those."
    )
    headless: bool
    harness_version: str | None
    opened_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    requests: int
    errors: int = Field(description="Calls the upstream failed.")
    refused: int = Field(description="Calls the proxy refused (key, budget, model).")
    cancelled: int = Field(description="Calls the client cancelled.")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    tokens_per_s_p50: float | None
    prompt_tokens: int
    completion_tokens: int
    cached_read_tokens: int
    reasoning_tokens: int
    cost_usd: float = Field(description="Recomputed from usage and the provider's prices.")
    litellm_spend_usd: float
    first_request_at: datetime | None
    last_request_at: datetime | None


class SessionList(_Model):
    total: int = Field(description="Sessions matching the filters, over all pages.")
    limit: int
    offset: int
    sessions: list[SessionRow]


class RequestRow(_Model):
    """One call the proxy observed: a bar of the session's timeline."""

    request_id: str
    started_at: datetime
    first_token_at: datetime | None
    ended_at: datetime | None
    latency_ms: float | None
    ttft_ms: float | None
    ttft_quality: Literal["measured", "missing", "equal_to_total"]
    output_tokens_per_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cached_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    cost_usd: float | None
    litellm_spend_usd: float | None
    status: Literal["success", "failure"]
    status_class: Literal["success", "upstream_error", "refused", "cancelled"]
    error_class: str | None
    error_code: str | None
    requested_model: str | None
    routed_model: str | None
    provider: str | None
    call_type: str | None
    streamed: bool | None
    proxy_overhead_ms: float | None


class Attempt(_Model):
    """One attempt of `benchctl run` at the session."""

    attempt: int
    runner: str
    status: Literal["running", "done", "infra_error", "lapsed"]
    step: str = Field(description="What the attempt was doing last: set up, harness, verify.")
    started_at: datetime
    ended_at: datetime | None
    leased_until: datetime
    exit_code: int | None
    timed_out: bool
    harness_seconds: float | None
    harness_version: str | None
    error: str | None
    log: str = Field(description="The harness's output, redacted and size-capped.")


class Verification(_Model):
    """One run of the task card's verifier on the session's workspace."""

    id: int
    status: Literal["scored", "error"]
    reward: float | None
    outcome: Outcome | None
    subscores: dict[str, Any]
    reward_source: str | None
    checks: list[dict[str, Any]]
    passed: int
    failed: int
    tests_hash: str | None
    exit_code: int | None
    timed_out: bool
    duration_ms: int
    sandbox: str
    error: str | None
    log: str = Field(description="The verifier's output, redacted and size-capped.")
    verified_at: datetime
    counts: bool = Field(description="The verification the session's outcome came from.")


class CapturedContent(_Model):
    request_id: str
    messages: Any
    response: Any


class SessionDetail(_Model):
    session: SessionRow
    notes: str
    key_alias: str = Field(description="The key's alias (never the key nor its hash).")
    budget_usd: float
    manifest_commit: str | None
    manifest_dirty: bool | None
    operator: str
    requests: list[RequestRow]
    attempts: list[Attempt]
    verifications: list[Verification]
    content: list[CapturedContent] | None = Field(
        description="Captured prompts and responses; null unless the server was started with"
        " --show-content (and the experiment captured any)."
    )


class RunningAttempt(_Model):
    session_id: str
    variant: str
    task_card: str
    replicate: int
    attempt: int
    runner: str
    step: str
    started_at: datetime
    leased_until: datetime
    lease_expired: bool = Field(description="Its runner stopped renewing the lease.")


class FinishedAttempt(_Model):
    session_id: str
    variant: str
    task_card: str
    replicate: int
    attempt: int
    status: Literal["done", "infra_error", "lapsed"]
    ended_at: datetime | None
    timed_out: bool
    outcome: Outcome | None
    error: str | None


class Progress(_Model):
    """A headless run of the experiment, as the database sees it now."""

    experiment: str
    sessions: int = Field(description="Headless sessions of the experiment.")
    finalized: int
    aborted: int
    pending: int = Field(description="Sessions not yet finalized or aborted.")
    succeeded: int
    not_succeeded: int = Field(description="Finalized with an outcome other than success.")
    done: bool = Field(description="Nothing left to run: the stream ends after this event.")
    running: list[RunningAttempt]
    finished: list[FinishedAttempt] = Field(description="The latest attempts to end.")
