"""deploy/: the compose file, Prometheus and Grafana provisioning agree with each other, and every
SQL query of the dashboards runs against a real benchmark database.

Docker is not needed: the files are parsed, references between them are checked, and the
dashboards' SQL is executed after substituting Grafana's macros and variables the way Grafana
does for PostgreSQL.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from benchctl.db import migrate
from benchctl.litellm.config import METRIC_METADATA_PATHS
from benchctl.stack.prometheus import METRICS_PATH

from conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
# /metrics of the real LiteLLM 1.106.2 proxy, captured with benchctl's metadata labels on.
METRICS_EXCERPT = REPO_ROOT / "tests" / "fixtures" / "litellm" / "metrics_excerpt.txt"
EXPERIMENT = "demo"
VARIANTS = ("sdk-sim-fast", "sdk-sim-balanced")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    return _yaml(DEPLOY / "docker-compose.yml")


def datasources() -> list[dict[str, Any]]:
    found = []
    for path in sorted((DEPLOY / "grafana" / "provisioning" / "datasources").glob("*.yml")):
        found += _yaml(path)["datasources"]
    return found


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in DASHBOARDS]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    flat = []
    for panel in dashboard["panels"]:
        flat.append(panel)
        flat += panel.get("panels", [])
    return flat


def targets(kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(panel title, target) of every query of a datasource type, template variables included."""
    found = []
    for dashboard in dashboards():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == kind:
                    found.append((panel["title"], target))
        for variable in dashboard["templating"]["list"]:
            if variable.get("datasource", {}).get("type") == kind:
                found.append((f"variable {variable['name']}", {"rawSql": variable["query"]}))
    return found


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.split("//")[-1], int(port)


def test_there_are_dashboards():
    assert DASHBOARDS, "deploy/grafana/dashboards/ has no dashboard"


def test_images_are_pinned_to_exact_versions():
    for name, service in compose()["services"].items():
        image = service["image"]
        _, _, tag = image.rpartition(":")
        assert tag and tag != image and tag not in ("latest", "main-latest", "main-stable"), name
        assert re.search(r"\d+\.\d+", tag), f"{name}: {image} is not pinned to a version"


def test_litellm_image_matches_the_tested_version():
    pyproject = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
    pinned = re.search(r'"litellm\[proxy\]==([\d.]+)"', pyproject)
    assert pinned is not None
    assert compose()["services"]["litellm"]["image"].endswith(f":v{pinned.group(1)}")


def test_compose_has_the_four_services_with_consistent_wiring():
    services = compose()["services"]
    assert set(services) == {"postgres", "litellm", "prometheus", "grafana"}
    litellm = services["litellm"]
    assert "--config" in litellm["command"]
    assert "4000:4000" in litellm["ports"]
    assert litellm["environment"]["DATABASE_URL"].startswith(
        "postgresql://benchctl:${POSTGRES_PASSWORD}@postgres:5432/"
    )
    # The master key and passwords come from the environment, never from the file.
    assert litellm["environment"]["LITELLM_MASTER_KEY"].startswith("${")
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and source != "./litellm.yaml":
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
        for dependency in service.get("depends_on", []):
            assert dependency in services


def test_prometheus_scrapes_the_compose_proxy():
    config = _yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    litellm = jobs["litellm"]
    assert litellm["metrics_path"] == METRICS_PATH == "/metrics/"
    proxy_port = compose()["services"]["litellm"]["command"][-1]
    (target,) = litellm["static_configs"][0]["targets"]
    assert _host_port(target) == ("litellm", int(proxy_port))
    mounts = compose()["services"]["prometheus"]["volumes"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


def test_grafana_datasources_point_at_compose_services():
    services = compose()["services"]
    by_type = {source["type"]: source for source in datasources()}
    postgres = by_type["grafana-postgresql-datasource"]
    assert _host_port(postgres["url"]) == ("postgres", 5432)
    assert postgres["jsonData"]["database"] == services["postgres"]["environment"]["POSTGRES_DB"]
    prometheus = by_type["prometheus"]
    assert _host_port(prometheus["url"]) == ("prometheus", 9090)
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]


def test_dashboard_provider_path_is_the_mounted_folder():
    (provider,) = _yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "benchctl.yml")[
        "providers"
    ]
    mounts = compose()["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_dashboards_use_only_provisioned_datasources():
    uids = {source["uid"]: source["type"] for source in datasources()}
    for dashboard in dashboards():
        refs = [panel["datasource"] for panel in panels(dashboard) if "datasource" in panel]
        refs += [t["datasource"] for panel in panels(dashboard) for t in panel.get("targets", [])]
        refs += [v["datasource"] for v in dashboard["templating"]["list"] if "datasource" in v]
        assert refs
        for ref in refs:
            assert uids.get(ref["uid"]) == ref["type"], f"{dashboard['title']}: {ref}"


def test_dashboard_uids_and_panel_ids_are_unique():
    seen = set()
    for dashboard in dashboards():
        assert dashboard["uid"] not in seen
        seen.add(dashboard["uid"])
        ids = [panel["id"] for panel in panels(dashboard)]
        assert len(ids) == len(set(ids))


def test_promql_uses_metrics_litellm_exports():
    exported = set(re.findall(r"^(litellm_\w+)\{", METRICS_EXCERPT.read_text(), re.M))
    expressions = [target["expr"] for _, target in targets("prometheus")]
    assert expressions
    labels = {f"metadata_{path.replace('.', '_')}" for path in METRIC_METADATA_PATHS}
    for expr in expressions:
        used = set(re.findall(r"\b(litellm_\w+)", expr))
        assert used and used <= exported, f"unknown metric in {expr}"
        for label in re.findall(r"\b(metadata_\w+)", expr):
            assert label in labels, f"{label} is not a label benchctl's config adds"


# -- the dashboards' SQL against the real schema ----------------------------------------------


def grafana_sql(text: str, start: datetime, end: datetime) -> str:
    """Expand what Grafana's PostgreSQL datasource expands: time macros and variables."""
    lo, hi = f"'{start.isoformat()}'::timestamptz", f"'{end.isoformat()}'::timestamptz"
    text = re.sub(r"\$__timeFilter\((\w+)\)", rf"\1 BETWEEN {lo} AND {hi}", text)
    text = re.sub(
        r"\$__timeGroupAlias\((\w+),\s*'(\d+)m'\)",
        lambda m: (
            f"to_timestamp(floor(extract(epoch FROM {m.group(1)})"
            f' / {int(m.group(2)) * 60}) * {int(m.group(2)) * 60}) AS "time"'
        ),
        text,
    )
    text = text.replace("$__timeFrom()", lo).replace("$__timeTo()", hi)
    # A multi-value variable in SQL is a comma-separated list of quoted values.
    text = text.replace("$variant", ",".join(f"'{v}'" for v in VARIANTS))
    text = text.replace("$experiment", EXPERIMENT)
    assert "$" not in text, f"unexpanded Grafana macro or variable in:\n{text}"
    return text


def _seed(conn: psycopg.Connection[Any], now: datetime) -> None:
    """Two variants, a task card, finalized sessions and requests of every kind."""
    for name in VARIANTS:
        conn.execute(
            "INSERT INTO variants (name, version, spec, content_hash, comparable)"
            " VALUES (%s, 1, '{}', 'x', '{}')",
            (name,),
        )
    conn.execute(
        "INSERT INTO task_cards (name, version, spec, content_hash, comparable)"
        " VALUES ('fix-bug', 1, '{}', 'x', '{}')"
    )
    for i, (variant, replicate) in enumerate([(v, r) for v in VARIANTS for r in (1, 2)]):
        session = uuid.uuid4()
        conn.execute(
            "INSERT INTO sessions (id, experiment, variant, variant_version, task_card,"
            " task_card_version, harness_profile, replicate, status, outcome, key_alias,"
            " key_hash, budget_usd, ttl_seconds, repo_path, operator, opened_at, ended_at)"
            " VALUES (%s, %s, %s, 1, 'fix-bug', 1, 'openai-sdk-script', %s, 'finalized', %s,"
            " %s, %s, 5, 3600, '/repo', 'test', %s, %s)",
            (
                session,
                EXPERIMENT,
                variant,
                replicate,
                "success" if replicate == 1 else "failure",
                f"benchctl-test-{i}",
                f"hash-{i}",
                now - timedelta(hours=1),
                now,
            ),
        )
        for j in range(6):
            failed = j == 5
            started = now - timedelta(minutes=50 - j * 5)
            conn.execute(
                "INSERT INTO requests (request_id, session_id, experiment, variant,"
                " variant_version, task_card, task_card_version, key_hash, started_at,"
                " ended_at, latency_ms, ttft_ms, ttft_quality, output_tokens_per_s,"
                " prompt_tokens, completion_tokens, cached_read_tokens, cost_usd, status,"
                " error_class, error_code, streamed, proxy_overhead_ms)"
                " VALUES (%s, %s, %s, %s, 1, 'fix-bug', 1, %s, %s, %s, %s, %s, %s, %s,"
                " 1000, 200, 500, 0.01, %s, %s, %s, true, 3.5)",
                (
                    f"req-{i}-{j}",
                    session,
                    EXPERIMENT,
                    variant,
                    f"hash-{i}",
                    started,
                    started + timedelta(seconds=2),
                    None if failed else 1500.0 + 100 * j,
                    None if failed else 300.0 + 10 * j,
                    "missing" if failed else "measured",
                    None if failed else 120.0,
                    "failure" if failed else "success",
                    "RateLimitError" if failed else None,
                    "429" if failed else None,
                ),
            )


@pytest.fixture
def seeded(database_url: str) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate.upgrade(conn)
        _seed(conn, datetime.now(UTC))
    return database_url


def test_every_dashboard_query_runs_on_the_benchmark_schema(seeded: str):
    queries = targets("grafana-postgresql-datasource")
    assert len(queries) >= 10
    end = datetime.now(UTC)
    start = end - timedelta(days=1)
    with psycopg.connect(seeded, autocommit=True) as conn:
        for title, target in queries:
            text = grafana_sql(target["rawSql"], start, end)
            try:
                rows = conn.execute(text).fetchall()
            except psycopg.Error as exc:
                pytest.fail(f"{title}: {exc}\n{text}")
            # Seeded data reaches every panel: an always-empty panel is a wrong query.
            assert rows, f"{title} returned no rows:\n{text}"
            if target.get("format") == "time_series":
                columns = [c.name for c in conn.execute(text).description or []]
                assert columns[:2] == ["time", "metric"], title
