"""Plan at scale: ``benchctl plan`` costs the same round trips for 100 objects as for 10,000.

For each case the script writes a synthetic repository of N valid manifests (providers, harness
profiles, task cards, variants and experiments, mostly variants and task cards; the shapes of
``tests/minirepo.py``), applies its objects to a fresh database on a throw-away PostgreSQL
(``pgserver``), inserts the experiments' sessions as rows in status ``open`` (one COPY), and
then runs ``benchctl.reconcile.engine.make_plan`` exactly as ``benchctl plan`` does: manifests
loaded and validated, one connection (with its schema check), the bulk reads of the database
and of the proxy's session keys, and the diff. Every plan must come out "no changes".

It counts, per plan:

* database queries: every ``Cursor.execute``/``executemany``/``copy`` (``Connection.execute``
  goes through ``Cursor.execute``), and connections opened;
* LiteLLM requests: ``LiteLLMClient.requests_made``. The proxy is a fake behind an
  ``httpx.MockTransport`` that answers ``/v2/key/info`` (every requested alias it holds, not
  blocked, not expired), ``/key/list`` (``total_count`` = the live keys) and ``/model/info``
  (the rendered config's models, so no config drift): this benchmarks how many requests
  benchctl makes, not LiteLLM.

The claim holds when every case makes the same number of queries and requests; otherwise the
script exits 1. Times are medians of ``--repeats`` plans after one warm-up, with the stages
``make_plan`` goes through (manifests, read database, read keys, diff; the rest is the
connection and its schema check).

    python bench/plan_scale.py                                  # 100, 1,000, 10,000 + sessions
    python bench/plan_scale.py --sizes 100,1000 --repeats 3 --json
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from benchpg import fresh_database, postgres
from psycopg import sql

from benchctl.db import migrate
from benchctl.litellm.client import LiteLLMClient
from benchctl.litellm.config import render_config
from benchctl.manifests.loader import load_repository
from benchctl.reconcile import engine
from benchctl.reconcile.actual import read_database
from benchctl.reconcile.apply import Applier
from benchctl.reconcile.desired import key_alias, session_id
from benchctl.reconcile.plan import diff
from benchctl.settings import Settings

LINEAGE = "00000000-0000-4000-8000-00000000be9c"
FOLDERS = ("providers", "harness_profiles", "task_cards", "variants", "experiments")
MIN_N = 10
PROXY_URL = "http://fake-litellm.invalid"
MASTER_KEY = "sk-plan-scale-master"
TTL_SECONDS = 4 * 3600
STAGES = ("manifests", "read_database", "read_keys", "diff")

# --------------------------------------------------------------------------------------------
# Synthetic repository, in the shapes of tests/minirepo.py
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    """How many manifests of each kind make up N, and the session entries they carry."""

    providers: int
    harness_profiles: int
    task_cards: int
    variants: int
    experiments: int
    sessions: int

    @classmethod
    def for_total(cls, n: int, sessions: int) -> Counts:
        providers = max(2, n // 500)
        profiles = max(2, n // 1000)
        experiments = max(1, n // 100)
        rest = n - providers - profiles - experiments
        return cls(providers, profiles, rest // 2, rest - rest // 2, experiments, sessions)

    @property
    def objects(self) -> int:
        kinds = (self.providers, self.harness_profiles, self.task_cards, self.variants)
        return sum(kinds) + self.experiments


def _provider(i: int) -> str:
    return f"""\
apiVersion: benchctl/v1
kind: Provider
metadata: {{name: provider-{i:03d}}}
spec:
  route: openai/
  api_base: https://api.provider-{i:03d}.example.com/v1
  api_key_env: PROVIDER_{i:03d}_API_KEY
  models:
    model-a:
      context_window: 100000
      prices: {{input: 1, output: 2}}
    model-b:
      context_window: 200000
      prices: {{input: 3, output: 15}}
"""


def _harness_profile(i: int) -> str:
    return f"""\
apiVersion: benchctl/v1
kind: HarnessProfile
metadata: {{name: harness-{i:02d}}}
spec:
  harness: OpenAI SDK script {i}
  protocol: openai-chat
  env:
    OPENAI_BASE_URL: "{{{{ proxy.url }}}}/v1"
    OPENAI_API_KEY: "{{{{ session.key }}}}"
  settings:
    turns: {{type: integer, default: 3}}
  launch: >-
    python agent.py --model {{{{ variant.model_alias }}}}
    --turns {{{{ variant.settings.turns }}}}
"""


def _task_card(i: int) -> str:
    return f"""\
apiVersion: benchctl/v1
kind: TaskCard
metadata: {{name: task-{i:05d}}}
spec:
  title: Task {i}
  repository: {{url: "https://example.org/r{i % 97}.git", commit: "{i:07x}"}}
  instructions: Fix issue {i}.
  acceptance_criteria: [tests pass, issue {i} closed]
  timebox: 30m
  difficulty: medium
"""


def _variant(i: int, counts: Counts) -> str:
    model = "model-a" if i % 2 else "model-b"
    return f"""\
apiVersion: benchctl/v1
kind: Variant
metadata: {{name: variant-{i:05d}}}
spec:
  provider: provider-{i % counts.providers:03d}
  model: {model}
  harness_profile: harness-{i % counts.harness_profiles:02d}
  harness_settings: {{turns: {1 + i % 7}}}
  request: {{temperature: {i % 10 / 10}}}
"""


@dataclass(frozen=True)
class Entry:
    """One session entry, and the harness profile its variant uses (for the session row)."""

    experiment: str
    variant: str
    task_card: str
    harness_profile: str


def _experiment(i: int, counts: Counts, sessions: int) -> tuple[str, list[Entry]]:
    """Experiment ``i``: a k x k grid of variants and task cards, ``sessions`` entries open."""
    k = max(3, math.isqrt(max(sessions - 1, 0)) + 1)
    variants = [(i * k + j) % counts.variants for j in range(k)]
    task_cards = [(i * k + j) % counts.task_cards for j in range(k)]
    name = f"experiment-{i:04d}"
    entries = [
        Entry(
            name,
            f"variant-{v:05d}",
            f"task-{t:05d}",
            f"harness-{v % counts.harness_profiles:02d}",
        )
        for v in variants
        for t in task_cards
    ][:sessions]
    lines = [
        "apiVersion: benchctl/v1",
        "kind: Experiment",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  variants: [{', '.join(f'variant-{v:05d}' for v in variants)}]",
        f"  task_cards: [{', '.join(f'task-{t:05d}' for t in task_cards)}]",
        f"  baseline: variant-{variants[0]:05d}",
        "  session_policy: {ttl: 4h, budget_usd: 5}",
    ]
    if entries:
        lines.append("  sessions:")
        lines += [f"    - {{variant: {e.variant}, task_card: {e.task_card}}}" for e in entries]
    return "\n".join(lines) + "\n", entries


def generate(root: Path, n: int, sessions: int) -> tuple[Counts, list[Entry]]:
    """Write a valid repository of ``n`` manifests with ``sessions`` open session entries."""
    counts = Counts.for_total(n, sessions)
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)

    def write(folder: str, name: str, text: str) -> None:
        (root / folder / f"{name}.yaml").write_text(text, encoding="utf-8")

    for i in range(counts.providers):
        write("providers", f"provider-{i:03d}", _provider(i))
    for i in range(counts.harness_profiles):
        write("harness_profiles", f"harness-{i:02d}", _harness_profile(i))
    for i in range(counts.task_cards):
        write("task_cards", f"task-{i:05d}", _task_card(i))
    for i in range(counts.variants):
        write("variants", f"variant-{i:05d}", _variant(i, counts))
    per_experiment = [
        sessions // counts.experiments + (i < sessions % counts.experiments)
        for i in range(counts.experiments)
    ]
    entries: list[Entry] = []
    for i, wanted in enumerate(per_experiment):
        text, made = _experiment(i, counts, wanted)
        entries += made
        write("experiments", f"experiment-{i:04d}", text)
    if len(entries) != sessions:
        raise SystemExit(f"generated {len(entries)} session entries, expected {sessions}")
    return counts, entries


def check_valid(root: Path, expected: int) -> None:
    result = load_repository(root)
    if result.diagnostics or result.files_checked != expected:
        shown = "\n".join(
            f"  {d.path}:{d.line}:{d.col}: {d.code} {d.message}" for d in result.diagnostics[:10]
        )
        raise SystemExit(
            f"the synthetic repository should be valid: {len(result.diagnostics)} diagnostics,"
            f" {result.files_checked} of {expected} files checked\n{shown}"
        )


# --------------------------------------------------------------------------------------------
# The database: a throw-away PostgreSQL, one fresh database per case
# --------------------------------------------------------------------------------------------


def fake_key_hash(sid: str) -> str:
    return hashlib.sha256(f"sk-plan-scale-{sid}".encode()).hexdigest()


SESSION_COLUMNS = (
    "id", "experiment", "variant", "variant_version", "task_card", "task_card_version",
    "harness_profile", "replicate", "status", "notes", "key_alias", "key_hash", "key_expires_at",
    "budget_usd", "ttl_seconds", "repo_path", "operator", "opened_at",
)  # fmt: skip


def prepare(url: str, root: Path, entries: list[Entry], expires: datetime) -> None:
    """Migrate, apply the objects (Applier, no proxy), then COPY the sessions in as 'open'."""
    settings = Settings(root=root, database_url=url, proxy_url=None)
    desired = engine.load_desired(root)
    with psycopg.connect(url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        migrate.upgrade(conn)
        # A known lineage, so the fake proxy can hold keys under this database's alias prefix.
        conn.execute("UPDATE state_meta SET lineage = %s", (LINEAGE,))
        # Objects only: opening sessions would need the proxy, and they are inserted below.
        objects = desired.model_copy(update={"sessions": []})
        plan = diff(objects, read_database(conn))
        Applier(conn, None, settings, plan).run()
        now = datetime.now(UTC)
        columns = sql.SQL(", ").join(map(sql.Identifier, SESSION_COLUMNS))
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("COPY sessions ({}) FROM STDIN").format(columns)) as copy,
        ):
            for e in entries:
                sid = session_id(e.experiment, e.variant, e.task_card, 1)
                copy.write_row(
                    (
                        sid, e.experiment, e.variant, 1, e.task_card, 1, e.harness_profile, 1,
                        "open", "", key_alias(sid, LINEAGE), fake_key_hash(sid), expires, 5.0,
                        TTL_SECONDS, str(root.resolve()), "plan-scale", now,
                    )
                )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The proxy: a fake of the two admin endpoints plan calls
# --------------------------------------------------------------------------------------------


@dataclass
class FakeProxy:
    """Holds one live key per open session; answers like LiteLLM 1.106.2's admin API."""

    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What /model/info answers: the proxy runs the config the manifests render.
    models: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def with_sessions(cls, root: Path, entries: list[Entry], expires: datetime) -> FakeProxy:
        keys = {}
        for e in entries:
            sid = session_id(e.experiment, e.variant, e.task_card, 1)
            keys[key_alias(sid, LINEAGE)] = {
                "token": fake_key_hash(sid),
                "key_alias": key_alias(sid, LINEAGE),
                "models": [e.variant],
                "metadata": {"benchctl": {"session_id": sid}},
                "expires": expires.isoformat(),
                "blocked": None,
                "max_budget": 5.0,
                "spend": 0.0,
            }
        models = render_config(load_repository(root).repository)["model_list"]
        return cls(keys, models)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v2/key/info" and request.method == "POST":
            wanted = json.loads(request.content)
            # /v2/key/info leaves the hash out.
            info = [
                {**self.keys[alias], "token": None}
                for alias in wanted.get("key_aliases", [])
                if alias in self.keys
            ]
            return httpx.Response(200, json={"key": wanted.get("keys", []), "info": info})
        if request.url.path == "/key/list" and request.method == "GET":
            prefix = request.url.params.get("key_alias", "")
            page = int(request.url.params.get("page", 1))
            size = int(request.url.params.get("size", 10))
            found = sorted(a for a in self.keys if prefix.lower() in a.lower())
            rows = [self.keys[a] for a in found[(page - 1) * size : page * size]]
            if request.url.params.get("return_full_object") != "true":
                rows = [r["token"] for r in rows]
            return httpx.Response(
                200,
                json={
                    "keys": rows,
                    "total_count": len(found),
                    "current_page": page,
                    "total_pages": math.ceil(len(found) / size),
                },
            )
        if request.url.path == "/model/info" and request.method == "GET":
            return httpx.Response(200, json={"data": self.models})
        return httpx.Response(404, json={"detail": f"the fake has no {request.url.path}"})


# --------------------------------------------------------------------------------------------
# Counting and timing make_plan
# --------------------------------------------------------------------------------------------


@dataclass
class Meter:
    """What one make_plan did: database queries and connections, proxy requests, stage times."""

    queries: int = 0
    connections: int = 0
    clients: list[LiteLLMClient] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(c.requests_made for c in self.clients)


@contextmanager
def instrumented(proxy: FakeProxy) -> Iterator[Callable[[], Meter]]:
    """Patch psycopg and the engine for the block; yields a function that starts a new Meter."""
    meter = Meter()

    def counted(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            meter.queries += 1
            return method(*args, **kwargs)

        return wrapper

    real_connect = psycopg.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        meter.connections += 1
        return real_connect(*args, **kwargs)

    def client(base_url: str, master_key: str, **kwargs: Any) -> LiteLLMClient:
        made = LiteLLMClient(
            base_url, master_key, transport=httpx.MockTransport(proxy.handle), **kwargs
        )
        meter.clients.append(made)
        return made

    def staged(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                meter.stages[stage] = meter.stages.get(stage, 0.0) + time.perf_counter() - start

        return wrapper

    patches: list[tuple[Any, str, Any]] = [
        (psycopg.Cursor, "execute", counted(psycopg.Cursor.execute)),
        (psycopg.Cursor, "executemany", counted(psycopg.Cursor.executemany)),
        (psycopg.Cursor, "copy", counted(psycopg.Cursor.copy)),
        (psycopg, "connect", connect),
        (engine, "LiteLLMClient", client),
        (engine, "load_manifests", staged("manifests", engine.load_manifests)),
        (engine, "read_database", staged("read_database", engine.read_database)),
        (engine, "read_keys", staged("read_keys", engine.read_keys)),
        (engine, "diff", staged("diff", engine.diff)),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]

    def reset() -> Meter:
        nonlocal meter
        meter = Meter()
        return meter

    for owner, name, replacement in patches:
        setattr(owner, name, replacement)
    try:
        yield reset
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


@dataclass(frozen=True)
class Result:
    label: str
    objects: int
    sessions: int
    counts: dict[str, int]
    db_queries: int
    db_connections: int
    litellm_requests: int
    plan_s: list[float]
    stages_s: dict[str, float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.plan_s)

    @property
    def per_object_us(self) -> float:
        return self.median_s / self.objects * 1e6


def measure(
    label: str,
    maintenance_url: str,
    n: int,
    sessions: int,
    repeats: int,
    say: Callable[[str], None],
) -> Result:
    with tempfile.TemporaryDirectory(prefix="benchctl-plan-scale-") as tmp:
        root = Path(tmp)
        say(f"{label}: generating {n:,} manifests with {sessions:,} open sessions ...")
        counts, entries = generate(root, n, sessions)
        check_valid(root, counts.objects)
        expires = datetime.now(UTC) + timedelta(seconds=TTL_SECONDS)
        url = fresh_database(maintenance_url, "plan_scale")
        say(f"{label}: applying the objects and inserting the sessions ...")
        prepare(url, root, entries, expires)
        proxy = FakeProxy.with_sessions(root, entries, expires)
        settings = Settings(
            root=root, database_url=url, proxy_url=PROXY_URL, proxy_master_key=MASTER_KEY
        )
        runs: list[Meter] = []
        times: list[float] = []
        with instrumented(proxy) as new_meter:
            for i in range(repeats + 1):  # the first run warms up and is not timed
                gc.collect()
                meter = new_meter()
                start = time.perf_counter()
                plan = engine.make_plan(settings)
                elapsed = time.perf_counter() - start
                if plan.actions or plan.warnings or not plan.keys_checked:
                    raise SystemExit(
                        f"{label}: the plan should be 'no changes', got {plan.summary} with"
                        f" {len(plan.actions)} action(s), warnings {plan.warnings}"
                    )
                if i:
                    runs.append(meter)
                    times.append(elapsed)
        shapes = {(m.queries, m.connections, m.requests) for m in runs}
        if len(shapes) != 1:
            raise SystemExit(f"{label}: round trips differ between repeats: {sorted(shapes)}")
        ((queries, connections, requests),) = shapes
        stages = {s: statistics.median(m.stages.get(s, 0.0) for m in runs) for s in STAGES}
        stages["connect_and_rest"] = statistics.median(
            t - sum(m.stages.values()) for t, m in zip(times, runs, strict=True)
        )
        counts_dict = asdict(counts)
        counts_dict.pop("sessions")
        return Result(
            label, counts.objects, sessions, counts_dict, queries, connections, requests, times,
            stages,
        )  # fmt: skip


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def server_version(maintenance_url: str) -> str:
    with psycopg.connect(maintenance_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"


def as_text(results: list[Result], repeats: int, pg: str, constant: bool) -> str:
    out = io.StringIO()
    out.write(
        f"plan_scale: make_plan (what `benchctl plan` runs) against PostgreSQL {pg} (pgserver)"
        f" and a fake LiteLLM admin API; medians of {repeats} plans after a warm-up;"
        f" nproc {os.cpu_count()}, Python {platform.python_version()}\n"
    )
    head = (
        f"  {'objects':>7} {'sessions':>8} {'DB queries':>10} {'DB conns':>8}"
        f" {'LiteLLM req':>11} {'plan':>9} {'per object':>10}"
        f"  | {'manifests':>9} {'read DB':>8} {'read keys':>9} {'diff':>8} {'connect+':>8}"
    )
    out.write(head + "\n")
    for r in results:
        s = r.stages_s
        out.write(
            f"  {r.objects:>7,} {r.sessions:>8,} {r.db_queries:>10} {r.db_connections:>8}"
            f" {r.litellm_requests:>11} {r.median_s:>7.3f} s {r.per_object_us:>7.0f} µs"
            f"  | {s['manifests']:>7.3f} s {s['read_database']:>6.3f} s"
            f" {s['read_keys']:>7.3f} s {s['diff']:>6.3f} s {s['connect_and_rest']:>6.3f} s\n"
        )
    first = results[0]
    if constant:
        out.write(
            f"  round trips per plan: {first.db_queries} database queries on"
            f" {first.db_connections} connection, {first.litellm_requests} LiteLLM requests,"
            f" in every case: constant\n"
        )
    else:
        out.write("  round trips per plan DIFFER between cases: NOT constant\n")
    return out.getvalue()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Count the database queries and LiteLLM requests of `benchctl plan` and"
        " time it, for repositories of growing size and with many open sessions.",
    )
    parser.add_argument(
        "--sizes",
        default="100,1000,10000",
        help="object counts N, comma-separated (default: %(default)s)",
    )
    parser.add_argument(
        "--sessions",
        type=int,
        default=10,
        help="open sessions in each of the --sizes cases (default: %(default)s); with none,"
        " plan asks the proxy about no key and so skips one request",
    )
    parser.add_argument(
        "--open-sessions",
        type=int,
        default=1000,
        help="open sessions of the extra case, 0 to skip it (default: %(default)s)",
    )
    parser.add_argument(
        "--open-sessions-n",
        type=int,
        default=1000,
        help="objects of the extra case (default: %(default)s)",
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed plans per case (default: %(default)s)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes takes integers, e.g. 100,1000,10000")
    if not args.sizes or min(args.sizes) < MIN_N or args.open_sessions_n < MIN_N:
        parser.error(f"every size must be at least {MIN_N}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    cases = [(f"N={n:,}", n, args.sessions) for n in args.sizes]
    if args.open_sessions:
        cases.append(
            (f"N={args.open_sessions_n:,}+sessions", args.open_sessions_n, args.open_sessions)
        )
    say("starting a throw-away PostgreSQL (pgserver) ...")
    with postgres("plan-scale") as maintenance_url:
        pg = server_version(maintenance_url)
        results = [
            measure(label, maintenance_url, n, sessions, args.repeats, say)
            for label, n, sessions in cases
        ]
    constant = len({(r.db_queries, r.db_connections, r.litellm_requests) for r in results}) == 1
    if args.json:
        print(
            json.dumps(
                {
                    "benchmark": "plan_scale",
                    "constant": constant,
                    "repeats": args.repeats,
                    "postgres": pg,
                    "machine": {
                        "nproc": os.cpu_count(),
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                    },
                    "cases": [
                        {**asdict(r), "median_s": r.median_s, "per_object_us": r.per_object_us}
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    else:
        print(as_text(results, args.repeats, pg, constant), end="")
    if not constant:
        sys.exit(1)


if __name__ == "__main__":
    main()
