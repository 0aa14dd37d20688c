"""`benchctl serve`'s JSON API against a real PostgreSQL holding the demo's committed data.

Expected values come from the committed files the same data produced (report.json, the
charts, the bundle's CSVs), not from the code under test: the API must answer with the
report's and the export's figures, because it reads with their queries.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from collections import Counter

import pytest

from serve_support import DEMO

pytestmark = pytest.mark.usefixtures("demo_database")


def _csv(name: str) -> list[dict[str, str]]:
    with (DEMO / "data" / name).open(newline="") as f:
        return list(csv.DictReader(f))


ROLLUPS = {row["session_id"]: row for row in _csv("session_rollups.csv")}
REPORT = json.loads((DEMO / "report.json").read_text())


def test_experiments_list_the_demo_with_its_counts_and_verdicts(serve_client):
    client = serve_client()
    body = client.get("/api/v1/experiments").json()
    assert body["format_version"] == REPORT["format_version"]
    (demo,) = body["experiments"]
    assert demo["name"] == "demo"
    assert demo["counts"] == {
        "sessions": 24, "finalized": 24, "open": 0, "aborted": 0, "headless": 24,
    }  # fmt: skip
    assert demo["headline"] == REPORT["headline"]
    assert [v["metric"] for v in demo["verdicts"]] == [s["metric"] for s in REPORT["summary"]]
    assert [v["winner"] for v in demo["verdicts"]] == [s["winner"] for s in REPORT["summary"]]
    # The verdicts' words are the headline's.
    for verdict in demo["verdicts"]:
        assert f"{verdict['title']}: {verdict['text']}" in REPORT["headline"]


def test_an_experiment_lists_its_variants_and_task_cards_as_applied(serve_client):
    body = serve_client().get("/api/v1/experiments/demo").json()
    manifests = json.loads((DEMO / "data" / "manifests.json").read_text())
    experiment = next(m for m in manifests if m["kind"] == "Experiment")
    spec = experiment["document"]["spec"]
    assert [v["name"] for v in body["variants"]] == spec["variants"]
    assert [t["name"] for t in body["task_cards"]] == spec["task_cards"]
    assert all(o["version"] == 1 and not o["retired"] for o in body["variants"])
    assert body["variants"][0]["spec"]["harness_profile"]
    assert body["baseline"] == REPORT["baseline"]
    assert body["replicates"] == 2


def test_the_report_is_report_json_byte_for_byte_and_the_charts_the_same_svgs(serve_client):
    client = serve_client()
    report = client.get("/api/v1/experiments/demo/report")
    assert report.status_code == 200
    assert report.headers["content-type"] == "application/json"
    assert report.text == (DEMO / "report.json").read_text()
    for chart in REPORT["charts"]:
        name = chart["path"].removeprefix("charts/")
        served = client.get(f"/api/v1/experiments/demo/charts/{name}")
        assert served.headers["content-type"].startswith("image/svg+xml")
        assert served.text == (DEMO / chart["path"]).read_text()
    missing = client.get("/api/v1/experiments/demo/charts/nope.svg")
    assert missing.status_code == 404
    assert "no chart 'nope.svg'" in missing.json()["detail"]


def test_an_unknown_experiment_is_a_404_naming_the_known_ones(serve_client):
    client = serve_client()
    for path in ("", "/report", "/progress", "/progress/stream", "/charts/latency.svg"):
        found = client.get(f"/api/v1/experiments/nope{path}")
        assert found.status_code == 404, path
        assert "no experiment 'nope'" in found.json()["detail"]
        assert "Known: demo" in found.json()["detail"]


def test_sessions_carry_the_report_figures_of_session_rollups(serve_client):
    body = serve_client().get("/api/v1/sessions", params={"limit": 500}).json()
    assert body["total"] == len(ROLLUPS) == 24
    for row in body["sessions"]:
        expected = ROLLUPS[row["session_id"]]
        assert row["requests"] == int(expected["requests"])
        assert row["cost_usd"] == pytest.approx(float(expected["cost_usd"]))
        assert row["latency_p50_ms"] == pytest.approx(float(expected["latency_p50_ms"]))
        assert row["outcome"] == expected["outcome"]
        assert row["reward"] == pytest.approx(float(expected["reward"]))
        assert "key_hash" not in row


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"variant": "sdk-sim-fast"}, lambda r: r["variant"] == "sdk-sim-fast"),
        ({"task_card": "slugify-tests"}, lambda r: r["task_card"] == "slugify-tests"),
        ({"outcome": "success"}, lambda r: r["outcome"] == "success"),
        ({"outcome": "failure", "variant": "sdk-sim-balanced"},
         lambda r: r["outcome"] == "failure" and r["variant"] == "sdk-sim-balanced"),
        ({"outcome_source": "verified"}, lambda r: r["outcome_source"] == "verified"),
        ({"outcome_source": "none"}, lambda r: r["outcome_source"] == ""),
        ({"status": "finalized"}, lambda r: r["status"] == "finalized"),
        ({"status": "open"}, lambda r: r["status"] == "open"),
        ({"experiment": "demo", "headless": "true"}, lambda r: True),
        ({"headless": "false"}, lambda r: False),
    ],
)  # fmt: skip
def test_filters_select_exactly_the_matching_sessions(serve_client, params, expected):
    body = serve_client().get("/api/v1/sessions", params={**params, "limit": 500}).json()
    wanted = {sid for sid, row in ROLLUPS.items() if expected(row)}
    assert {s["session_id"] for s in body["sessions"]} == wanted
    assert body["total"] == len(wanted)


def test_a_time_window_filters_on_when_sessions_opened(serve_client):
    opened = sorted((row["opened_at"], sid) for sid, row in ROLLUPS.items())
    middle = opened[len(opened) // 2][0].replace(" ", "T").replace("+00", "+00:00")
    client = serve_client()
    early = client.get("/api/v1/sessions", params={"until": middle, "limit": 500}).json()
    late = client.get("/api/v1/sessions", params={"since": middle, "limit": 500}).json()
    assert early["total"] + late["total"] == 24
    assert early["total"] == len(opened) // 2
    assert max(s["opened_at"] for s in early["sessions"]) < min(
        s["opened_at"] for s in late["sessions"]
    )


def test_pages_cover_every_session_once_in_report_order(serve_client):
    client = serve_client()
    seen = []
    for offset in range(0, 30, 5):
        page = client.get("/api/v1/sessions", params={"limit": 5, "offset": offset}).json()
        assert page["total"] == 24
        assert (page["limit"], page["offset"]) == (5, offset)
        seen += page["sessions"]
    assert len(seen) == 24 == len({s["session_id"] for s in seen})
    order = [(s["variant"], s["task_card"], s["replicate"]) for s in seen]
    assert order == sorted(order)
    past = client.get("/api/v1/sessions", params={"offset": 100}).json()
    assert (past["sessions"], past["total"]) == ([], 24)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"limit": "0"}, "`limit`: Input should be greater than or equal to 1"),
        ({"limit": "501"}, "`limit`: Input should be less than or equal to 500"),
        ({"limit": "ten"}, "`limit`: Input should be a valid integer"),
        ({"offset": "-1"}, "`offset`: Input should be greater than or equal to 0"),
        ({"status": "done"}, "`status`: Input should be 'opening'"),
        ({"outcome": "won"}, "`outcome`: Input should be 'success'"),
        ({"headless": "maybe"}, "`headless`: Input should be a valid boolean"),
        ({"since": "yesterday"}, "`since`: Input should be a valid datetime"),
        ({"since": "2026-11-30T04:00:00"}, "`since`: Input should have timezone info"),
        ({"since": "2026-12-01T00:00Z", "until": "2026-11-01T00:00Z"},
         "`since` must be earlier than `until`"),
        ({"varient": "sdk-sim-fast"}, "unknown parameter `varient`"),
        ({"variant": ""}, "`variant`: String should have at least 1 character"),
    ],
)  # fmt: skip
def test_a_bad_filter_is_a_400_that_names_it(serve_client, params, says):
    found = serve_client().get("/api/v1/sessions", params=params)
    assert found.status_code == 400, found.text
    assert says in found.json()["detail"]


def test_a_bad_or_unknown_session_id(serve_client):
    client = serve_client()
    bad = client.get("/api/v1/sessions/not-a-uuid")
    assert bad.status_code == 400
    assert "`session_id`" in bad.json()["detail"]
    unknown = client.get("/api/v1/sessions/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no session 00000000-0000-0000-0000-000000000000"}


def test_a_session_has_its_calls_attempts_and_verifier_runs(serve_client):
    requests = _csv("requests.csv")
    verifications = _csv("verifications.csv")
    attempts = _csv("run_attempts.csv")
    client = serve_client()
    for sid, expected in ROLLUPS.items():
        body = client.get(f"/api/v1/sessions/{sid}").json()
        assert body["session"]["session_id"] == sid
        calls = [r for r in requests if r["session_id"] == sid]
        assert [c["request_id"] for c in body["requests"]] == [
            r["request_id"] for r in sorted(calls, key=lambda r: (r["started_at"], r["request_id"]))
        ]
        assert sum(c["prompt_tokens"] for c in body["requests"]) == int(expected["prompt_tokens"])
        assert len(body["attempts"]) == len([a for a in attempts if a["session_id"] == sid])
        runs = [v for v in verifications if v["session_id"] == sid]
        assert [v["outcome"] for v in body["verifications"]] == [v["outcome"] for v in runs]
        assert body["verifications"][-1]["checks"]
        assert body["content"] is None  # not shown unless the server is told to
        assert body["key_alias"].startswith("benchctl-")


def test_content_is_shown_only_when_asked(serve_client):
    sid = next(iter(ROLLUPS))
    assert serve_client().get(f"/api/v1/sessions/{sid}").json()["content"] is None
    # The demo captured nothing: asked, the list is empty rather than absent.
    assert serve_client(show_content=True).get(f"/api/v1/sessions/{sid}").json()["content"] == []


def test_the_timeline_is_an_accessible_svg_with_a_bar_per_call(serve_client):
    client = serve_client()
    for sid, expected in list(ROLLUPS.items())[:4]:
        svg = client.get(f"/api/v1/sessions/{sid}/timeline.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        root = ET.fromstring(svg.text)
        ns = {"s": "http://www.w3.org/2000/svg"}
        assert root.get("role") == "img" and root.get("aria-label")
        assert root.find("s:title", ns) is not None and root.find("s:desc", ns) is not None
        bars = root.findall(".//s:g[@class='call']", ns)
        assert len(bars) == int(expected["requests"])
        assert f"{int(expected['requests'])} calls" in root.find("s:desc", ns).text


def test_progress_of_a_finished_run(serve_client):
    body = serve_client().get("/api/v1/experiments/demo/progress").json()
    outcomes = Counter(row["outcome"] for row in ROLLUPS.values())
    assert body["done"] is True
    assert (body["sessions"], body["finalized"], body["pending"]) == (24, 24, 0)
    assert body["succeeded"] == outcomes["success"]
    assert body["not_succeeded"] == 24 - outcomes["success"]
    assert body["running"] == []
    assert len(body["finished"]) == 10


def test_the_openapi_document_is_served_and_committed_in_sync(serve_client):
    from benchctl.serve.openapi import FILE, document

    from conftest import REPO_ROOT

    committed = (REPO_ROOT / FILE).read_text()
    assert document() == committed, "run `python -m benchctl.serve.openapi` and commit"
    served = serve_client().get("/api/v1/openapi.json").json()
    assert served == json.loads(committed)
    for path, operations in served["paths"].items():
        for operation in operations.values():
            assert "400" in operation["responses"], path
            assert "422" not in operation["responses"], path


def test_reports_are_built_as_the_server_starts(serve_client):
    import time

    client = serve_client(warm=True)
    reports = client.app.state.reports
    deadline = time.monotonic() + 60
    while "demo" not in reports._built and time.monotonic() < deadline:  # before any request
        time.sleep(0.1)
    assert "demo" in reports._built
    assert client.get("/api/v1/experiments/demo/report").text == (DEMO / "report.json").read_text()
