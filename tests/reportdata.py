"""Synthetic experiments with a known truth, written straight into a real benchmark database.

Objects are inserted as rows shaped like applied manifests; sessions as finalized rows with an
outcome; requests with one COPY. Everything derives from a seed, so a test gets the same data
every run, and ``order_seed`` shuffles only the order rows are inserted in.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from benchctl.db import migrate

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REQUEST_COLUMNS = (
    "request_id",
    "litellm_call_id",
    "session_id",
    "experiment",
    "variant",
    "variant_version",
    "task_card",
    "task_card_version",
    "key_hash",
    "key_alias",
    "requested_model",
    "routed_model",
    "provider",
    "call_type",
    "started_at",
    "first_token_at",
    "ended_at",
    "latency_ms",
    "ttft_ms",
    "ttft_quality",
    "output_tokens_per_s",
    "prompt_tokens",
    "completion_tokens",
    "cached_read_tokens",
    "cost_usd",
    "litellm_spend_usd",
    "status",
    "streamed",
    "proxy_overhead_ms",
)


@dataclass(frozen=True)
class Truth:
    """What a variant really does: medians of its sessions, and its success rate."""

    name: str
    sessions: int = 20
    success_rate: float = 0.8
    latency_ms: float = 1000.0
    # None: the route never measures TTFT (LiteLLM reports it equal to the total latency).
    ttft_ms: float | None = 300.0
    tokens_per_s: float = 80.0
    cost_per_request: float = 0.002
    requests_per_session: int = 5
    error_rate: float = 0.0
    # Spread of session medians around the truth (log-normal sigma), then of calls in a session.
    session_sigma: float = 0.15
    request_sigma: float = 0.3


@dataclass
class Experiment:
    name: str = "exp"
    variants: Sequence[Truth] = ()
    task_cards: Sequence[str] = ("hello", "fix-bug")
    baseline: str | None = None
    # Listed in the manifest but never run.
    idle_variants: Sequence[str] = ()
    hypothesis: str = "B is slower and fails more."
    seed: int = 1
    order_seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _document(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "benchctl/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def prepare(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)


def _insert_object(conn: psycopg.Connection[Any], table: str, document: dict[str, Any]) -> None:
    name = document["metadata"]["name"]
    conn.execute(
        f"INSERT INTO {table} (name, version, spec, content_hash, comparable)"
        " VALUES (%s, 1, %s, %s, '{}') ON CONFLICT DO NOTHING",
        (name, Jsonb(document), f"hash-{name}"),
    )


def insert_objects(conn: psycopg.Connection[Any], exp: Experiment) -> None:
    variants = [t.name for t in exp.variants] + list(exp.idle_variants)
    _insert_object(
        conn,
        "providers",
        _document("Provider", "sim", {"route": "openai/", "api_base": "http://127.0.0.1:1/v1"}),
    )
    _insert_object(
        conn,
        "harness_profiles",
        _document("HarnessProfile", "script", {"harness": "script", "protocol": "openai-chat"}),
    )
    for card in exp.task_cards:
        _insert_object(conn, "task_cards", _document("TaskCard", card, {"title": card}))
    for variant in variants:
        spec = {"provider": "sim", "model": f"model-{variant}", "harness_profile": "script"}
        _insert_object(conn, "variants", _document("Variant", variant, spec))
    spec = {
        "hypothesis": exp.hypothesis,
        "variants": variants,
        "task_cards": list(exp.task_cards),
        "baseline": exp.baseline or variants[0],
        "replicates": 1,
        **exp.extra,
    }
    _insert_object(conn, "experiments", _document("Experiment", exp.name, spec))


def _outcomes(truth: Truth, rng: random.Random) -> list[str]:
    # Exactly the true share succeeds, so the known truth is the sample's truth too.
    successes = round(truth.sessions * truth.success_rate)
    outcomes = ["success"] * successes + ["failure"] * (truth.sessions - successes)
    rng.shuffle(outcomes)
    return outcomes


def build(exp: Experiment) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Session rows and request rows of the experiment."""
    rng = random.Random(exp.seed)
    sessions: list[tuple[Any, ...]] = []
    requests: list[tuple[Any, ...]] = []
    clock = START
    for truth in exp.variants:
        for index, outcome in enumerate(_outcomes(truth, rng)):
            card = exp.task_cards[index % len(exp.task_cards)]
            replicate = index // len(exp.task_cards) + 1
            sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{exp.name}/{truth.name}/{card}/{replicate}"))
            alias = f"benchctl-test-{sid}"
            key_hash = f"hash-{sid}"
            effect = math.exp(rng.gauss(0, truth.session_sigma))
            opened = clock
            for n in range(truth.requests_per_session):
                latency = truth.latency_ms * effect * math.exp(rng.gauss(0, truth.request_sigma))
                failed = rng.random() < truth.error_rate
                ttft: float | None = None
                quality = "equal_to_total"
                if truth.ttft_ms is not None:
                    ttft = min(latency, truth.ttft_ms * effect * math.exp(rng.gauss(0, 0.2)))
                    quality = "measured"
                else:
                    ttft = latency
                tps = truth.tokens_per_s / effect * math.exp(rng.gauss(0, 0.1))
                started = clock
                ended = started + timedelta(milliseconds=latency)
                clock = ended + timedelta(seconds=1)
                cost = truth.cost_per_request * math.exp(rng.gauss(0, 0.2))
                requests.append(
                    (
                        f"req-{sid}-{n}",
                        f"call-{sid}-{n}",
                        sid,
                        exp.name,
                        truth.name,
                        1,
                        card,
                        1,
                        key_hash,
                        alias,
                        truth.name,
                        f"openai/model-{truth.name}",
                        "sim",
                        "acompletion",
                        started,
                        started + timedelta(milliseconds=ttft) if ttft is not None else None,
                        ended,
                        latency,
                        ttft,
                        quality,
                        None if failed else tps,
                        1000 + n * 200,
                        int(tps * latency / 1000),
                        500 if n else 0,
                        cost,
                        cost,
                        "failure" if failed else "success",
                        True,
                        2.0 + rng.random(),
                    )
                )
            sessions.append(
                (
                    sid,
                    exp.name,
                    truth.name,
                    card,
                    replicate,
                    outcome,
                    alias,
                    key_hash,
                    opened,
                    clock,
                )
            )
            clock += timedelta(minutes=1)
    if exp.order_seed is not None:
        shuffler = random.Random(exp.order_seed)
        shuffler.shuffle(sessions)
        shuffler.shuffle(requests)
    return sessions, requests


def insert_sessions(conn: psycopg.Connection[Any], rows: Sequence[tuple[Any, ...]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sessions (id, experiment, variant, variant_version, task_card,"
            " task_card_version, harness_profile, replicate, status, outcome, key_alias,"
            " key_hash, budget_usd, ttl_seconds, repo_path, operator, opened_at, ended_at)"
            " VALUES (%s, %s, %s, 1, %s, 1, 'script', %s, 'finalized', %s, %s, %s, 5, 3600,"
            " '.', 'test', %s, %s)",
            rows,
        )
        # The generated outcomes stand for what a verifier measured: the ones reports count.
        cur.execute(
            "UPDATE sessions SET outcome_source = 'verified'"
            " WHERE outcome IS NOT NULL AND outcome_source IS NULL"
        )


def copy_requests(conn: psycopg.Connection[Any], rows: Sequence[tuple[Any, ...]]) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY requests ({', '.join(REQUEST_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def seed(database_url: str, exp: Experiment) -> Experiment:
    """Create the schema if needed, then the experiment's objects, sessions and requests."""
    prepare(database_url)
    sessions, requests = build(exp)
    with psycopg.connect(database_url) as conn:
        insert_objects(conn, exp)
        insert_sessions(conn, sessions)
        copy_requests(conn, requests)
    return exp


def known_truth(**overrides: Any) -> Experiment:
    """A is the baseline; B is 30% slower and succeeds 10 points less often; both run the same
    40 task cards, 10 attempts each (the task card is the report's unit)."""
    a = Truth("a-fast", sessions=400, success_rate=0.9, latency_ms=1000.0)
    b = Truth("b-slow", sessions=400, success_rate=0.8, latency_ms=1300.0)
    cards = tuple(f"task-{i:02d}" for i in range(40))
    return Experiment(variants=[a, b], task_cards=cards, **{"baseline": "a-fast", **overrides})
