"""Reports against a real PostgreSQL, on synthetic experiments whose truth is known."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import psycopg
import pytest
from psycopg.rows import dict_row

from benchctl.report import data
from benchctl.report.build import build
from benchctl.report.model import render_schema
from benchctl.report.writer import check_report, render, write_report

from conftest import REPO_ROOT
from reportdata import Experiment, Truth, copy_requests, insert_sessions, known_truth, seed
from reportdata import build as build_rows

SVG = "{http://www.w3.org/2000/svg}"


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, row_factory=dict_row, autocommit=True)


def _report(url: str, name: str = "exp"):
    with _connect(url) as conn:
        return build(data.load(conn, name))


def _summary(report, metric: str):
    return next(s for s in report.summary if s.metric == metric)


def _comparison(report, variant: str, metric: str):
    v = next(v for v in report.variants if v.label == variant)
    return next(c for c in v.comparisons if c.metric == metric)


@pytest.fixture
def truth_db(database_url):
    seed(database_url, known_truth())
    return database_url


def test_known_truth_the_faster_more_successful_baseline_wins(truth_db):
    report = _report(truth_db)
    assert report.baseline == "a-fast"
    for metric in ("success_rate", "latency_ms"):
        summary = _summary(report, metric)
        assert (summary.outcome, summary.winner) == ("baseline", "a-fast"), summary
        assert "b-slow" in summary.note

    latency = _comparison(report, "b-slow", "latency_ms")
    assert latency.verdict == "worse"
    assert latency.interval.low < 0.30 < latency.interval.high
    assert 0.2 < latency.estimate < 0.4

    success = _comparison(report, "b-slow", "success_rate")
    assert success.verdict == "worse"
    assert success.estimate == pytest.approx(-0.10)
    assert success.interval.low < -0.10 < success.interval.high
    assert success.interval.high < 0

    # Same TTFT, throughput and per-call cost in truth: no verdict either way.
    assert _comparison(report, "b-slow", "ttft_ms").verdict == "no_difference"
    assert _comparison(report, "b-slow", "tokens_per_s").verdict == "no_difference"
    assert "Latency (median call): a-fast (baseline)" in report.headline


def test_known_truth_against_the_slower_baseline_names_the_winner(database_url):
    seed(database_url, known_truth(baseline="b-slow"))
    report = _report(database_url)
    assert [v.label for v in report.variants] == ["b-slow", "a-fast"]

    latency = _summary(report, "latency_ms")
    assert (latency.outcome, latency.winner) == ("winner", "a-fast")
    truth = 1 / 1.3 - 1  # a-fast takes 1/1.3 of b-slow's time
    assert latency.comparison.interval.low < truth < latency.comparison.interval.high

    success = _summary(report, "success_rate")
    assert (success.outcome, success.winner) == ("winner", "a-fast")
    assert success.comparison.estimate == pytest.approx(0.10)
    assert success.comparison.interval.low < 0.10 < success.comparison.interval.high

    readme = markdown_of(report)
    summary = readme.split("## Summary", 1)[1].split("##", 1)[0]
    assert "| Latency (median call) | lower | **a-fast** is better | [-23%](#paired" in summary
    assert "| Success rate | higher | **a-fast** is better | [+10.0 pts](#paired" in summary
    assert readme.index("## Summary") < readme.index("## Variants") < readme.index("## Methods")


def markdown_of(report) -> str:
    from benchctl.report.markdown import render as render_markdown

    return render_markdown(report)


def test_too_few_sessions_give_not_enough_data(database_url):
    few = Experiment(
        variants=[Truth("a", sessions=4), Truth("b", sessions=4, latency_ms=3000)], baseline="a"
    )
    seed(database_url, few)
    report = _report(database_url)
    assert {s.outcome for s in report.summary} == {"not_enough_data"}
    assert all(c.estimate is None and c.interval is None for c in report.variants[1].comparisons)
    readme = markdown_of(report)
    assert readme.count("not enough data") >= 5
    assert "A comparison needs 3 or more task cards in common" in readme


def test_same_data_same_bytes_whatever_the_insertion_order(database_url, tmp_path):
    exp = known_truth(idle_variants=["c-idle"])
    seed(database_url, exp)
    first = write_report(_connect(database_url), "exp", tmp_path / "one")
    assert first.written == [
        "README.md",
        "charts/cost-vs-success.svg",
        "charts/latency.svg",
        "charts/tokens-per-s.svg",
        "charts/ttft.svg",
        "report.json",
    ]
    again = write_report(_connect(database_url), "exp", tmp_path / "one")
    assert not again.changed

    exp.order_seed = 99
    sessions, requests = build_rows(exp)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM requests")
        conn.execute("DELETE FROM sessions")
        insert_sessions(conn, sessions)
        copy_requests(conn, requests)
    write_report(_connect(database_url), "exp", tmp_path / "two")
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.*"))
    assert len(files) == 6
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel


def test_report_json_validates_against_the_committed_schema(truth_db):
    committed = (REPO_ROOT / "schemas" / "report.schema.json").read_text(encoding="utf-8")
    assert committed == render_schema(), "run `python -m benchctl.report.model` and commit"
    with _connect(truth_db) as conn:
        _, files = render(conn, "exp")
    payload = json.loads(files["report.json"])
    jsonschema.Draft202012Validator.check_schema(json.loads(committed))
    jsonschema.validate(payload, json.loads(committed))
    assert payload["format_version"] == 2
    assert payload["window"] == {
        "first_request_at": "2026-03-02T09:00:00Z",
        "last_request_at": payload["window"]["last_request_at"],
    }
    assert [c["path"] for c in payload["charts"]] == [
        "charts/latency.svg",
        "charts/ttft.svg",
        "charts/cost-vs-success.svg",
        "charts/tokens-per-s.svg",
    ]
    # Every chart the JSON lists is linked from the README, relative to it.
    for chart in payload["charts"]:
        assert f"]({chart['path']})" in files["README.md"]


def _series(svg_text: str) -> list[str]:
    root = ET.fromstring(svg_text)
    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}title").text
    return [el.get("data-variant") for el in root.iter() if el.get("class") == "series"]


def test_charts_are_well_formed_and_draw_every_variant(truth_db):
    with _connect(truth_db) as conn:
        _, files = render(conn, "exp")
    for name in ("latency", "ttft", "cost-vs-success", "tokens-per-s"):
        assert _series(files[f"charts/{name}.svg"]) == ["a-fast", "b-slow"], name
    latency = files["charts/latency.svg"]
    for text in ("ms, log scale", "share of calls", "a-fast: median", "1,000"):
        assert text in latency
    cost = files["charts/cost-vs-success.svg"]
    assert "90% (" in cost and "over 40 task card(s)" in cost
    assert "cost per successful task (USD)" in cost


def test_edge_cases_no_requests_idle_baseline_unmeasured_ttft(database_url, tmp_path):
    exp = Experiment(
        variants=[Truth("b", sessions=6, ttft_ms=None)],
        idle_variants=["base"],
        baseline="base",
    )
    seed(database_url, exp)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO experiments (name, version, spec, content_hash, comparable)"
            " VALUES ('empty', 1, %s, 'h', '{}')",
            (
                json.dumps(
                    {
                        "kind": "Experiment",
                        "metadata": {"name": "empty"},
                        "spec": {"variants": ["base"], "task_cards": ["hello"], "baseline": "base"},
                    }
                ),
            ),
        )
    report = _report(database_url)
    assert {s.outcome for s in report.summary} == {"no_baseline"}
    b = next(v for v in report.variants if v.label == "b")
    assert b.ttft_quality.measured == 0 and b.ttft_quality.equal_to_total == 30
    assert b.figures.ttft_p50_ms is None
    readme = markdown_of(report)
    assert "| not measured |" in readme
    assert "TTFT of b was never measured" in readme
    assert "The baseline base has no sessions" in readme
    assert "base has no sessions yet." in readme

    result = write_report(_connect(database_url), "empty", tmp_path)
    assert result.written == ["README.md", "report.json"]
    empty = (tmp_path / "empty" / "README.md").read_text(encoding="utf-8")
    assert "No sessions yet: 1 variant(s) are listed" in empty
    payload = json.loads((tmp_path / "empty" / "report.json").read_text(encoding="utf-8"))
    assert payload["window"] is None and payload["charts"] == []


def test_obsolete_charts_are_removed_and_other_files_kept(truth_db, tmp_path):
    (tmp_path / "exp" / "charts").mkdir(parents=True)
    (tmp_path / "exp" / "charts" / "old.svg").write_text("<svg/>", encoding="utf-8")
    (tmp_path / "exp" / "notes.txt").write_text("mine", encoding="utf-8")
    with _connect(truth_db) as conn:
        assert check_report(conn, "exp", tmp_path).removed == ["charts/old.svg"]
        write_report(conn, "exp", tmp_path)
        assert not (tmp_path / "exp" / "charts" / "old.svg").exists()
        assert (tmp_path / "exp" / "notes.txt").read_text(encoding="utf-8") == "mine"
        assert not check_report(conn, "exp", tmp_path).changed


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------


def test_cli_report_then_check_fresh_and_stale(run_cli, truth_db, tmp_path):
    env = {"BENCHCTL_DATABASE_URL": truth_db}
    out = tmp_path / "artifacts"
    missing = run_cli("report", "exp", "--check", "--out", str(out), env=env)
    assert missing.exit_code == 1
    assert "README.md is missing or out of date" in missing.output
    assert "Run `benchctl report exp` and commit the result." in missing.output

    done = run_cli("report", "exp", "--out", str(out), env=env)
    assert done.exit_code == 0, done.output
    assert "(6 file(s) changed)" in done.output
    assert "exp: 800 sessions, 4,000 requests." in done.output

    fresh = run_cli("report", "--all", "--check", "--out", str(out), env=env)
    assert fresh.exit_code == 0, fresh.output
    assert "is up to date." in fresh.output

    readme = out / "exp" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    (out / "exp" / "charts" / "gone.svg").write_text("<svg/>", encoding="utf-8")
    stale = run_cli("report", "--all", "--check", "--out", str(out), env=env)
    assert stale.exit_code == 1
    assert "exp/README.md is missing or out of date" in stale.output
    assert "exp/charts/gone.svg should no longer exist" in stale.output
    assert "report.json" not in stale.output
    assert "Run `benchctl report --all` and commit the result." in stale.output

    fixed = run_cli("report", "--all", "--out", str(out), env=env)
    assert fixed.exit_code == 0 and "(2 file(s) changed)" in fixed.output


def test_cli_default_out_is_the_roots_artifacts_folder(run_cli, truth_db, tmp_path):
    result = run_cli(
        "report", "exp", "--root", str(tmp_path), env={"BENCHCTL_DATABASE_URL": truth_db}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "artifacts" / "exp" / "README.md").is_file()


def test_cli_errors(run_cli, database_url):
    seed(database_url, known_truth())
    env = {"BENCHCTL_DATABASE_URL": database_url}
    unknown = run_cli("report", "nope", "--check", env=env)
    assert unknown.exit_code == 2
    assert "no experiment 'nope' in the benchmark database" in unknown.output
    assert "Known: exp." in unknown.output
    assert "Traceback" not in unknown.output
    for args in ((), ("exp", "--all")):
        result = run_cli("report", *args, env=env)
        assert result.exit_code == 2
        assert "name one experiment, or pass --all (not both)." in result.output


def test_cli_all_with_no_experiments(run_cli, database_url, tmp_path):
    from reportdata import prepare

    prepare(database_url)
    result = run_cli(
        "report", "--all", "--out", str(tmp_path), env={"BENCHCTL_DATABASE_URL": database_url}
    )
    assert result.exit_code == 0
    assert "No experiment in the benchmark database yet" in result.output


def test_task_card_is_the_unit_with_pass_k_flips_and_design(truth_db):
    report = _report(truth_db)
    a, b = report.variants
    # 40 task cards x 10 attempts: the mean of per-task rates is the true share exactly.
    assert a.task_level.tasks == 40 and a.task_level.success_rate == pytest.approx(0.9)
    assert a.task_level.success_interval.low < 0.9 < a.task_level.success_interval.high
    assert a.task_level.success_se is not None and 0 < a.task_level.success_se < 0.05
    assert [p.k for p in b.task_level.pass_k] == list(range(1, 11))
    assert b.task_level.pass_k[0].pass_at_k == pytest.approx(0.8)
    assert b.task_level.pass_k[0].pass_hat_k == pytest.approx(0.8)
    # More attempts: pass@k rises, pass^k falls.
    assert b.task_level.pass_k[-1].pass_at_k > 0.95 > 0.2 > b.task_level.pass_k[-1].pass_hat_k

    success = _comparison(report, "b-slow", "success_rate")
    assert success.tasks == 40 and success.method == "paired cluster bootstrap"
    assert success.significant and success.p_value < 0.05
    assert success.baseline_only and success.mde is not None and 0 < success.mde < 0.15
    assert report.design.tasks == 40 and report.design.mde_success_rate is not None

    readme = markdown_of(report)
    assert "## Paired by task card" in readme and "## pass@k and pass^k" in readme
    assert "| b-slow | 40 |" in readme
    assert "this design can tell apart success-rate differences of about" in readme
    for anchor in ("#paired-cluster-bootstrap", "#holms-correction", "#minimum-detectable-effect"):
        assert f"]({anchor})" in readme
        heading = anchor.removeprefix("#").replace("-", " ")
        assert heading.replace("holms", "holm's") in readme.lower()


def test_holm_needs_every_comparison_to_clear_its_corrected_threshold(database_url):
    """Three variants, each as slow as the baseline but for one slightly slower: alone its
    difference would pass at 5%; the verdicts never contradict the corrected tests."""
    truths = [Truth("base", sessions=60)] + [
        Truth(f"v{i}", sessions=60, latency_ms=1000.0 * (1.0 + 0.02 * i)) for i in range(3)
    ]
    exp = Experiment(variants=truths, task_cards=tuple(f"t{i}" for i in range(20)))
    seed(database_url, exp)
    report = _report(database_url)
    for variant in report.variants[1:]:
        for c in variant.comparisons:
            assert (c.verdict in ("better", "worse")) == c.significant
            if c.significant:
                assert c.interval.low > 0 or c.interval.high < 0


def test_spend_rows_prometheus_counted_but_the_logs_lack_are_a_caveat(truth_db):
    with _connect(truth_db) as conn:
        sid, alias = (
            conn.execute(
                "SELECT id, key_alias FROM sessions WHERE variant = 'b-slow' ORDER BY id LIMIT 1"
            )
            .fetchone()
            .values()
        )
        logged = conn.execute(
            "SELECT count(*) AS n FROM requests WHERE session_id = %s AND status = 'success'",
            (sid,),
        ).fetchone()["n"]
        conn.execute(
            "INSERT INTO prometheus_samples (key_alias, session_id, metric, le, value,"
            " observed_at) VALUES (%s, %s, 'litellm_request_total_latency_metric_count',"
            " 'Infinity', %s, now())",
            (alias, sid, logged + 2),
        )
    report = _report(truth_db)
    assert any(
        "Prometheus counted 2 successful call(s) of b-slow, in 1 session(s)" in c
        for c in report.caveats
    ), report.caveats
