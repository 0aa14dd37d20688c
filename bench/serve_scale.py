"""Serve at scale: the viewer's session page and sessions list over a 1,000,000-request
experiment, against a bare SELECT of the same rows.

The script starts a throw-away PostgreSQL (``pgserver``) and loads report_scale's dataset
(``report_scale.load``: one experiment, 4 variants x 3 task cards, N sessions, M requests,
``VACUUM ANALYZE``). It makes ``--sample`` random sessions headless with one attempt (a run log)
and one scored verification each, so their pages show every part, then starts the real server
as users do, ``benchctl serve --port P`` in a subprocess with ``BENCHCTL_DATABASE_URL`` set,
and warms it (the first list page builds the experiment's report for its header).

Then, ``--repeats`` times, alternating in one loop over random sessions of the sample and
random pages of 50 (``httpx``, one kept-alive connection; ``psycopg``, one connection):

* **session baseline**: ``SELECT * FROM requests WHERE session_id = %s``, the calls the
  session page shows, fetched;
* **session page** ``/sessions/{id}`` (HTML) and **API** ``/api/v1/sessions/{id}``;
* **list baseline**: ``SELECT * FROM sessions WHERE experiment = %s AND variant = %s ORDER BY
  variant_version, task_card, replicate LIMIT 50 OFFSET %s``, the page's sessions;
* **sessions list** ``/experiments/scale/sessions?variant=...&offset=...`` (HTML) and **API**
  ``/api/v1/sessions?experiment=scale&variant=...&limit=50&offset=...``.

It prints p50 and p95 of each (ms, client-side wall time of the whole exchange), the ratio
p95(endpoint) / p95(its baseline), and PASS/FAIL against the issue's bar, p95 <= 100 ms for the
session page and the sessions list (HTML and API). Exits 1 if a bar is missed or an answer is
wrong. It also prints the 1-minute load average before and after the loop: other jobs on the
machine show in the tail. ``--explain`` adds ``EXPLAIN (ANALYZE, BUFFERS)`` of the browse
queries those pages run.

    python bench/serve_scale.py                     # 1,000,000 requests, 3,000 sessions
    python bench/serve_scale.py --requests 100000 --repeats 50 --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from benchpg import fresh_database, postgres
from psycopg import sql
from psycopg.types.json import Jsonb
from report_scale import EXPERIMENT, VARIANTS, load

from benchctl.db.queries import query
from benchctl.stack.processes import free_port

BAR_MS = 100.0
PAGE = 50
SESSION_BASELINE = "SELECT * FROM requests WHERE session_id = %s"
LIST_BASELINE = (
    "SELECT * FROM sessions WHERE experiment = %s AND variant = %s"
    " ORDER BY variant_version, task_card, replicate LIMIT 50 OFFSET %s"
)
# What the loop times, in its order: (name, what it is measured against).
ENDPOINTS = (
    ("session baseline", None),
    ("session page (HTML)", "session baseline"),
    ("session API", "session baseline"),
    ("list baseline", None),
    ("sessions list (HTML)", "list baseline"),
    ("sessions list API", "list baseline"),
)
LOG = "".join(f"[{i:04d}] harness: step {i} of the task, edited 1 file\n" for i in range(120))
CHECKS = [{"name": f"test_{i}", "status": "passed" if i % 7 else "failed"} for i in range(12)]


def make_headless(url: str, ids: list[str]) -> None:
    """One finished attempt (with a run log) and one scored verification per session, the
    verification counted: what a `benchctl run` leaves."""
    params = {"ids": ids, "log": LOG, "checks": Jsonb(CHECKS)}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO run_attempts (session_id, attempt, runner, status, step, leased_until,"
            " started_at, ended_at, exit_code, harness_seconds, harness_version, log)"
            " SELECT id, 1, 'bench-runner', 'done', 'done', opened_at + interval '31 minutes',"
            " opened_at, opened_at + interval '29 minutes', 0, 1700.0, '1.0.0', %(log)s"
            " FROM sessions WHERE id = ANY(%(ids)s::uuid[])",
            params,
        )
        conn.execute(
            "INSERT INTO verifications (session_id, task_card, task_card_version, status,"
            " reward, outcome, checks, passed, failed, tests_hash, exit_code, duration_ms,"
            " sandbox, log, workspace, operator, verified_at)"
            " SELECT id, task_card, task_card_version, 'scored',"
            " CASE outcome WHEN 'success' THEN 1.0 ELSE 0.0 END, outcome, %(checks)s, 10, 2,"
            " 'sha256-bench', 0, 4200, 'bubblewrap', %(log)s, '/tmp/ws/' || id, 'bench',"
            " ended_at FROM sessions WHERE id = ANY(%(ids)s::uuid[])",
            params,
        )
        conn.execute(
            "UPDATE sessions s SET headless = true, outcome_source = 'verified',"
            " verification_id = v.id, reward = v.reward FROM verifications v"
            " WHERE v.session_id = s.id AND s.id = ANY(%(ids)s::uuid[])",
            params,
        )
        conn.execute("ANALYZE sessions, run_attempts, verifications")


@contextmanager
def server(url: str) -> Iterator[str]:
    """``benchctl serve`` on a free loopback port, as a user starts it; its base URL."""
    exe = shutil.which("benchctl", path=str(Path(sys.executable).parent)) or "benchctl"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_")}
    env["BENCHCTL_DATABASE_URL"] = url
    root = Path(tempfile.mkdtemp(prefix="benchctl-serve-scale-root-"))
    base = f"http://127.0.0.1:{port}"
    # Its log goes to a file: a pipe nobody reads would block the server once full.
    with (root / "serve.log").open("wb") as log:
        proc = subprocess.Popen([exe, "serve", "--port", str(port)], env=env, cwd=root, stderr=log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"benchctl serve exited: {(root / 'serve.log').read_text()}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("benchctl serve did not answer /healthz within 60 s")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(root, ignore_errors=True)


def _ms(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return (time.perf_counter() - start) * 1000, value


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94]


def measure(
    url: str, base: str, sample: list[str], repeats: int, seed: int, say: Any
) -> dict[str, Any]:
    rng = random.Random(seed)
    variants = [v[0] for v in VARIANTS]
    with psycopg.connect(url, autocommit=True) as db:
        per_variant = {
            v: db.execute(
                "SELECT count(*) FROM sessions WHERE experiment = %s AND variant = %s",
                (EXPERIMENT, v),
            ).fetchone()[0]  # type: ignore[index]
            for v in variants
        }
    times: dict[str, list[float]] = {name: [] for name, _ in ENDPOINTS}
    problems: list[str] = []

    def check(ok: bool, what: str) -> None:
        if not ok and len(problems) < 20:
            problems.append(what)

    with (
        psycopg.connect(url, autocommit=True) as db,
        httpx.Client(base_url=base, timeout=120) as http,
    ):

        def fetch(statement: str, params: tuple[Any, ...]) -> list[Any]:
            return db.execute(statement, params).fetchall()

        say("  warming: the first list page builds the experiment's report ...")
        t, _ = _ms(http.get, f"/experiments/{EXPERIMENT}/sessions")
        say(f"    first list page: {t / 1000:.1f} s")
        for sid in sample[:5]:
            http.get(f"/sessions/{sid}")
            http.get(f"/api/v1/sessions/{sid}")
            db.execute(SESSION_BASELINE, (sid,)).fetchall()
        for v in variants:
            http.get(f"/experiments/{EXPERIMENT}/sessions", params={"variant": v})
            http.get("/api/v1/sessions", params={"experiment": EXPERIMENT, "variant": v})
            db.execute(LIST_BASELINE, (EXPERIMENT, v, 0)).fetchall()

        for i in range(repeats):
            sid = rng.choice(sample)
            t, rows = _ms(fetch, SESSION_BASELINE, (sid,))
            times["session baseline"].append(t)
            t, html = _ms(http.get, f"/sessions/{sid}")
            times["session page (HTML)"].append(t)
            check(html.status_code == 200 and sid in html.text, f"/sessions/{sid}: {html}")
            t, api = _ms(http.get, f"/api/v1/sessions/{sid}")
            times["session API"].append(t)
            body = api.json() if api.status_code == 200 else {}
            check(
                len(body.get("requests", ())) == len(rows)
                and len(body.get("attempts", ())) == 1
                and len(body.get("verifications", ())) == 1,
                f"/api/v1/sessions/{sid}: {api.status_code}, not {len(rows)} calls,"
                " 1 attempt, 1 verification",
            )

            variant = rng.choice(variants)
            offset = rng.randrange(0, per_variant[variant], PAGE)
            t, rows = _ms(fetch, LIST_BASELINE, (EXPERIMENT, variant, offset))
            times["list baseline"].append(t)
            wanted = {"variant": variant, "offset": offset}
            t, html = _ms(http.get, f"/experiments/{EXPERIMENT}/sessions", params=wanted)
            times["sessions list (HTML)"].append(t)
            check(html.status_code == 200, f"sessions list {wanted}: {html}")
            params = {"experiment": EXPERIMENT, "limit": PAGE, **wanted}
            t, api = _ms(http.get, "/api/v1/sessions", params=params)
            times["sessions list API"].append(t)
            listed = api.json().get("sessions", []) if api.status_code == 200 else []
            check(
                [s["session_id"] for s in listed] == [str(r[0]) for r in rows],
                f"sessions list API {wanted}: {api.status_code}, not the baseline's page",
            )
            if (i + 1) % 50 == 0:
                say(f"  {i + 1}/{repeats}")

    figures = {}
    for name, against in ENDPOINTS:
        values = times[name]
        figures[name] = {"p50_ms": statistics.median(values), "p95_ms": p95(values)}
        if against is not None:
            figures[name]["ratio_p95"] = figures[name]["p95_ms"] / p95(times[against])
            figures[name]["pass"] = figures[name]["p95_ms"] <= BAR_MS
    return {"figures": figures, "problems": problems, "times_ms": times}


def explain(url: str, sample: list[str]) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the browse queries the two pages run."""
    page = {
        "experiment": EXPERIMENT,
        "variant": VARIANTS[1][0],
        "task_card": None,
        "status": None,
        "outcome": None,
        "outcome_source": None,
        "headless": None,
        "since": None,
        "until": None,
        "limit": PAGE,
        "offset": 0,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        (listed,) = conn.execute(
            "SELECT count(*) FROM sessions WHERE experiment = %s AND variant = %s",
            (EXPERIMENT, page["variant"]),
        ).fetchone()  # type: ignore[misc]
        page["offset"] = listed // 2 // PAGE * PAGE  # a page half-way down the list
        ids = [r[0] for r in conn.execute(query("browse.session_page"), page).fetchall()]
        cases = {
            f"browse.session_page (variant, offset {page['offset']})": (
                "browse.session_page",
                page,
            ),
            "browse.session_rows (1 id)": ("browse.session_rows", {"ids": sample[:1]}),
            "browse.session_rows (50 ids of a page)": ("browse.session_rows", {"ids": ids}),
            "browse.requests": ("browse.requests", {"id": sample[0]}),
            "browse.attempts": ("browse.attempts", {"id": sample[0]}),
            "browse.verifications": ("browse.verifications", {"id": sample[0]}),
            "browse.fingerprint": ("browse.fingerprint", {}),
        }
        plans = {}
        for label, (name, params) in cases.items():
            statement = sql.SQL("EXPLAIN (ANALYZE, BUFFERS) {}").format(query(name))
            rows = conn.execute(statement, params or None).fetchall()
            plans[label] = "\n".join(r[0] for r in rows)
    return plans


def as_text(r: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"serve_scale: {r['requests']:,} requests in {r['sessions']:,} sessions,"
        f" {len(VARIANTS)} variants, PostgreSQL {r['postgres']} (pgserver);"
        f" {args.repeats} requests per endpoint over {args.sample} sessions",
        "",
        f"  {'':<22} {'p50 ms':>8} {'p95 ms':>8} {'p95 / baseline':>15}  bar p95 <= {BAR_MS:g} ms",
    ]
    for name, f in r["figures"].items():
        if "ratio_p95" in f:
            verdict = "PASS" if f["pass"] else "FAIL"
            lines.append(
                f"  {name:<22} {f['p50_ms']:8.2f} {f['p95_ms']:8.2f}"
                f" {f['ratio_p95']:14.1f}x  {verdict}"
            )
        else:
            lines.append(f"  {name:<22} {f['p50_ms']:8.2f} {f['p95_ms']:8.2f} {'baseline':>15}")
    before, after = r["load_average"]
    lines += [
        "",
        f"  1-minute load average: {before:.2f} before, {after:.2f} after ({os.cpu_count()} CPUs)",
    ]
    lines += [f"  problem: {p}" for p in r["problems"]]
    for label, plan in r.get("explain", {}).items():
        lines += ["", f"EXPLAIN (ANALYZE, BUFFERS) {label}:", plan]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=3_000)
    parser.add_argument("--repeats", type=int, default=200, help="requests per endpoint")
    parser.add_argument("--sample", type=int, default=200, help="sessions made headless")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="add the browse queries' plans")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    say("starting a throw-away PostgreSQL (pgserver) ...")
    with postgres("serve-scale") as maintenance_url:
        url = fresh_database(maintenance_url, "serve_scale")
        say(f"loading {args.requests:,} requests in {args.sessions:,} sessions (COPY) ...")
        t_load, _ = _ms(load, url, args.requests, args.sessions, args.seed)
        with psycopg.connect(url, autocommit=True) as conn:
            pg = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            every = [str(r[0]) for r in conn.execute("SELECT id FROM sessions ORDER BY id")]
        sample = random.Random(args.seed).sample(every, min(args.sample, len(every)))
        make_headless(url, sample)
        say(f"  loaded in {t_load / 1000:.1f} s; starting benchctl serve ...")
        load_before = os.getloadavg()[0]
        with server(url) as base:
            result = measure(url, base, sample, args.repeats, args.seed, say)
        result["load_average"] = [load_before, os.getloadavg()[0]]
        if args.explain:
            result["explain"] = explain(url, sample)
    result.update(requests=args.requests, sessions=len(every), postgres=pg, load_s=t_load / 1000)
    if args.json:
        payload = {
            "benchmark": "serve_scale",
            "repeats": args.repeats,
            "sample": args.sample,
            "machine": {
                "nproc": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            **{k: v for k, v in result.items() if k != "times_ms"},
        }
        print(json.dumps(payload, indent=2))
    else:
        print(as_text(result, args), end="")
    if result["problems"] or not all(f.get("pass", True) for f in result["figures"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
