"""The cost ledger: each session's cost recomputed by benchctl, charged by LiteLLM and reported
by the harness itself, on real PostgreSQL; and reading a harness's account from its output."""

from __future__ import annotations

import json

import psycopg
import pytest

from benchctl.collect.account import read_account
from benchctl.db.queries import query
from benchctl.errors import UsageError
from benchctl.manifests.models.harness_profile import Account
from benchctl.reconcile.desired import session_id

# The tail of `claude -p ... --output-format json`, as Claude Code 2.x prints it.
CLAUDE_RESULT = {
    "type": "result", "subtype": "success", "is_error": False, "num_turns": 4,
    "total_cost_usd": 0.0512,
    "usage": {"input_tokens": 1200, "output_tokens": 340, "cache_read_input_tokens": 9000},
}  # fmt: skip
CLAUDE = Account(
    format="json", cost_usd="total_cost_usd", input_tokens="usage.input_tokens",
    output_tokens="usage.output_tokens",
)  # fmt: skip


def test_a_json_result_is_read_by_its_paths():
    found = read_account(CLAUDE, json.dumps(CLAUDE_RESULT))
    assert (found.cost_usd, found.input_tokens, found.output_tokens) == (0.0512, 1200, 340)
    # A log that ends with the object reads the same.
    log = "starting\nsome progress line\n" + json.dumps(CLAUDE_RESULT) + "\n"
    assert read_account(CLAUDE, log) == found


def test_json_lines_sum_the_matching_events():
    account = Account(
        format="jsonl", match={"type": "token_count"}, input_tokens="usage.input",
        output_tokens="usage.output",
    )  # fmt: skip
    lines = [
        {"type": "token_count", "usage": {"input": 100, "output": 20}},
        {"type": "message", "usage": {"input": 999, "output": 999}},
        {"type": "token_count", "usage": {"input": 50, "output": 5}},
    ]
    found = read_account(account, "\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    assert (found.cost_usd, found.input_tokens, found.output_tokens) == (None, 150, 25)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no json here", "holds no JSON object"),
        (json.dumps({"other": 1}), "none of the fields"),
        (json.dumps({"total_cost_usd": -1}), "negative"),
        (json.dumps({"total_cost_usd": "free"}), "not a number"),
    ],
)
def test_outputs_that_say_nothing_usable_are_clear_errors(text, message):
    with pytest.raises(UsageError, match=message):
        read_account(CLAUDE, text)


EXPERIMENT, VARIANT, TASK, PROFILE = "demo", "claude-code-sonnet-4-5", "fix-median", "claude-code"


@pytest.fixture
def env(database_url):
    return {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_PROXY_URL": ""}


def _session(database_url: str, replicate: int, cost: float, spend: float) -> str:
    sid = session_id(EXPERIMENT, VARIANT, TASK, replicate)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            query("sessions.insert"),
            {
                "id": sid, "experiment": EXPERIMENT, "variant": VARIANT, "variant_version": 1,
                "task_card": TASK, "task_card_version": 1, "harness_profile": PROFILE,
                "replicate": replicate, "notes": "", "key_alias": f"benchctl-ledger-{sid}",
                "budget_usd": 5.0, "ttl_seconds": 3600, "manifest_commit": None,
                "manifest_dirty": None, "repo_path": "/", "operator": "test", "headless": False,
            },
        )  # fmt: skip
        conn.execute(
            "INSERT INTO requests (request_id, session_id, experiment, variant, variant_version,"
            " task_card, task_card_version, key_hash, started_at, ttft_quality, status,"
            " cost_usd, litellm_spend_usd) VALUES (%s, %s, %s, %s, 1, %s, 1, 'h', now(),"
            " 'missing', 'success', %s, %s)",
            (f"req-{sid}", sid, EXPERIMENT, VARIANT, TASK, cost, spend),
        )
    return sid


def test_the_ledger_flags_accounts_that_disagree(
    run_cli, example_repo, env, database_url, tmp_path
):
    applied = run_cli("apply", "--root", str(example_repo), "--auto-approve", env=env)
    assert applied.exit_code == 0, applied.output
    # LiteLLM under-charges the first session by 40%; the second agrees.
    first = _session(database_url, 1, cost=0.050, spend=0.030)
    _session(database_url, 2, cost=0.020, spend=0.020)
    output = tmp_path / "out.json"
    output.write_text("thinking...\n" + json.dumps(CLAUDE_RESULT) + "\n")

    done = run_cli(
        "session", "account", first[:8], "--from", str(output), "--root", str(example_repo),
        env=env,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "recomputed $0.0500, LiteLLM $0.0300, harness $0.0512" in done.output
    assert "LiteLLM differs from the recomputed cost by more than 5%." in done.output
    assert "The harness differs" not in done.output
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "SELECT cost_usd, input_tokens, output_tokens, source FROM session_accounts"
        ).fetchone() == (0.0512, 1200, 340, "out.json")

    out = tmp_path / "reports"
    report = run_cli("report", EXPERIMENT, "--out", str(out), "--root", str(example_repo), env=env)
    assert report.exit_code == 0, report.output
    data = json.loads((out / EXPERIMENT / "report.json").read_text())
    (accuracy,) = [c for c in data["cost_accuracy"] if c["variant"] == VARIANT]
    assert (accuracy["sessions"], accuracy["litellm_disagree"]) == (2, 1)
    assert accuracy["litellm_relative"] == pytest.approx(0.05 / 0.07 - 1)
    assert (accuracy["harness_sessions"], accuracy["harness_disagree"]) == (1, 0)
    readme = (out / EXPERIMENT / "README.md").read_text()
    assert f"| {VARIANT} | 2 | $0.0700 | $0.0500 (-29%) | 1 | $0.0512 (+2.4%) of 1 | 0 |" in readme
    # The bundle carries the ledger and the harness's account.
    bundle = tmp_path / "bundle"
    exported = run_cli(
        "export", EXPERIMENT, "--out", str(bundle), "--format", "csv", "--root",
        str(example_repo), env=env,
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    ledger = (bundle / "cost_ledger.csv").read_text()
    assert ledger.count("\n") == 3 and ",t,f" in ledger and ",f,\n" in ledger
    assert "out.json" in (bundle / "session_accounts.csv").read_text()


def test_a_profile_without_an_account_is_a_clear_error(
    run_cli, example_repo, env, database_url, tmp_path
):
    assert run_cli("apply", "--root", str(example_repo), "--auto-approve", env=env).exit_code == 0
    sid = session_id(EXPERIMENT, "sdk-sim-fast", TASK, 1)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            query("sessions.insert"),
            {
                "id": sid, "experiment": EXPERIMENT, "variant": "sdk-sim-fast",
                "variant_version": 1, "task_card": TASK, "task_card_version": 1,
                "harness_profile": "openai-sdk-script", "replicate": 1, "notes": "",
                "key_alias": f"benchctl-ledger-{sid}", "budget_usd": 5.0, "ttl_seconds": 3600,
                "manifest_commit": None, "manifest_dirty": None, "repo_path": "/",
                "operator": "test", "headless": False,
            },
        )  # fmt: skip
    output = tmp_path / "out.json"
    output.write_text(json.dumps(CLAUDE_RESULT))
    done = run_cli(
        "session", "account", sid[:8], "--from", str(output), "--root", str(example_repo),
        env=env,
    )  # fmt: skip
    assert done.exit_code == 2
    assert "declares no `account`" in done.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"total_cost_usd": 1, "usage": {"input_tokens": ' + "9" * 5000 + "}}", "no JSON"),
        ('{"total_cost_usd": 1, "usage": {"input_tokens": 99999999999999999999}}', "token count"),
    ],
)
def test_absurd_numbers_are_clear_errors(text, message):
    with pytest.raises(UsageError, match=message):
        read_account(CLAUDE, text)


def test_a_json_transcript_reads_its_last_object():
    transcript = [{"type": "system"}, {"type": "assistant"}, CLAUDE_RESULT]
    assert read_account(CLAUDE, json.dumps(transcript)).cost_usd == 0.0512
