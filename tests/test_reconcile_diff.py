"""The plan's rules, on hand-built states: no database, no proxy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from benchctl.errors import PlanError
from benchctl.litellm.client import KeyInfo
from benchctl.manifests.loader import load_repository
from benchctl.reconcile.actual import ActualObject, ActualSession, ActualState
from benchctl.reconcile.desired import DesiredState, desired_state, key_alias, session_id
from benchctl.reconcile.plan import diff
from benchctl.render.plan import summary_line, to_markdown

from minirepo import FILES, write_minirepo

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SESSION = """\
apiVersion: benchctl/v1
kind: Experiment
metadata: {name: exp}
spec:
  variants: [fast]
  task_cards: [hello]
  baseline: fast
  replicates: 2
  sessions:
%s
"""


def desired(tmp_path, **overrides) -> DesiredState:
    result = load_repository(write_minirepo(tmp_path, **overrides))
    assert result.ok, result.errors
    return desired_state(result.repository, manifest_commit="abc", manifest_dirty=False)


def applied(state: DesiredState, rows=None, sessions=0, live=0) -> ActualState:
    """The database as it would be right after applying ``state``."""
    objects = {
        (o.kind, o.name): ActualObject(
            kind=o.kind,
            name=o.name,
            version=1,
            content_hash=o.content_hash,
            comparable=o.comparable,
            document=o.document,
            retired=False,
            sessions=sessions,
            live_sessions=live,
        )
        for o in state.objects
    }
    return ActualState(serial=1, lineage="L", objects=objects, sessions=rows or {}, keys={})


def row(status, replicate=1, key_hash="h1", outcome=None, notes="", source=None) -> ActualSession:
    sid = session_id("exp", "fast", "hello", replicate)
    return ActualSession(
        id=sid, experiment="exp", variant="fast", variant_version=1, task_card="hello",
        task_card_version=1, harness_profile="script", replicate=replicate, status=status,
        outcome=outcome, outcome_source=source or (outcome and "self-reported"), notes=notes,
        key_alias=key_alias(sid, "L"), key_hash=key_hash, key_expires_at=None, opened_at=None,
        ended_at=None,
    )  # fmt: skip


def key(sid, token="h1", blocked=False, expires=None) -> KeyInfo:
    return KeyInfo(
        token=token, key_alias=key_alias(sid, "L"), models=("fast",), metadata={}, expires=expires,
        blocked=blocked, max_budget=1.0, spend=0.0,
    )  # fmt: skip


def test_empty_database_creates_everything_in_dependency_order(tmp_path):
    state = desired(tmp_path)
    empty = ActualState(serial=0, lineage="L", objects={}, sessions={}, keys={})
    plan = diff(state, empty, now=NOW)
    assert [(a.action, a.kind) for a in plan.actions] == [
        ("create", "Provider"),
        ("create", "HarnessProfile"),
        ("create", "TaskCard"),
        ("create", "Variant"),
        ("create", "Experiment"),
    ]
    assert summary_line(plan) == "Plan: 5 to add, 0 to change, 0 to retire; 0 sessions to open."


def test_no_changes(tmp_path):
    state = desired(tmp_path)
    plan = diff(state, applied(state), now=NOW)
    assert plan.actions == []
    assert not plan.summary.changes
    assert (
        summary_line(plan)
        == "No changes. The benchmark database and the proxy match the manifests."
    )


def test_no_changes_without_a_proxy_says_the_keys_went_unchecked(tmp_path):
    state = desired(tmp_path)
    plan = diff(state, applied(state), now=NOW).model_copy(update={"keys_checked": False})
    line = summary_line(plan)
    assert line.startswith("No changes.")
    assert "the proxy's keys were not checked" in line
    assert "the proxy match" not in line


def test_cosmetic_change_is_in_place_and_names_the_field(tmp_path):
    state = desired(tmp_path)
    changed = desired(
        tmp_path / "b",
        task_cards__hello=FILES["task_cards/hello.yaml"]
        .replace("{name: hello}", "{name: hello, description: New}")
        .replace("title: Say hello", "title: Say hello politely"),
    )
    plan = diff(changed, applied(state, sessions=3), now=NOW)
    (action,) = plan.actions
    assert action.action == "update" and action.kind == "TaskCard"
    assert action.changes == ["metadata.description", "spec.title"]
    assert action.forced_by == []


VARIANT_SLOW = FILES["variants/fast.yaml"] + "  request: {temperature: 0.5}\n"


def test_comparability_change_with_sessions_replaces_with_a_new_version(tmp_path):
    state = desired(tmp_path)
    changed = desired(tmp_path / "b", variants__fast=VARIANT_SLOW)
    plan = diff(changed, applied(state, sessions=2), now=NOW)
    (action,) = plan.actions
    assert (action.action, action.kind, action.version) == ("replace", "Variant", 2)
    assert action.forced_by == ["spec.request.temperature"]
    assert action.symbol == "-/+"
    assert summary_line(plan) == "Plan: 1 to add, 0 to change, 1 to retire; 0 sessions to open."


def test_comparability_change_without_sessions_is_in_place(tmp_path):
    state = desired(tmp_path)
    changed = desired(tmp_path / "b", variants__fast=VARIANT_SLOW)
    (action,) = diff(changed, applied(state), now=NOW).actions
    assert action.action == "update"
    assert action.changes == ["spec.request.temperature"]


def test_comparability_change_with_open_sessions_is_refused(tmp_path):
    state = desired(tmp_path)
    changed = desired(tmp_path / "b", variants__fast=VARIANT_SLOW)
    with pytest.raises(PlanError, match=r"spec.request.temperature changed while 1 of its"):
        diff(changed, applied(state, sessions=1, live=1), now=NOW)


def test_removed_object_is_retired_not_deleted(tmp_path):
    state = desired(tmp_path)
    actual = applied(state)
    extra = next(iter(actual.objects.values()))
    actual.objects[("TaskCard", "gone")] = ActualObject(
        **{**extra.__dict__, "kind": "TaskCard", "name": "gone", "sessions": 4}
    )
    (action,) = diff(state, actual, now=NOW).actions
    assert (action.action, action.name, action.symbol) == ("retire", "gone", "-")
    assert "4 session(s) keep it" in action.reason


def entries(*lines: str) -> str:
    return SESSION % "\n".join(f"    - {line}" for line in lines)


def test_session_lifecycle_actions(tmp_path):
    opening = desired(tmp_path, experiments__exp=entries("{variant: fast, task_card: hello}"))
    base = applied(opening)
    (new,) = diff(opening, base, now=NOW).actions
    assert (new.action, new.resume, new.variant_version) == ("open", False, 1)
    assert new.key_alias == key_alias(new.session_id, "L")

    sid = session_id("exp", "fast", "hello", 1)
    base.sessions = {sid: row("opening", key_hash=None)}
    (resume,) = diff(opening, base, now=NOW).actions
    assert (resume.action, resume.resume) == ("open", True)

    base.sessions = {sid: row("open")}
    base.keys = {key_alias(sid, "L"): key(sid)}
    assert diff(opening, base, now=NOW).actions == []

    done = desired(
        tmp_path / "b",
        experiments__exp=entries(
            "{variant: fast, task_card: hello, status: finalized, outcome: success}"
        ),
    )
    (fin,) = diff(done, base, now=NOW).actions
    assert (fin.action, fin.symbol) == ("finalize", "~")
    assert summary_line(diff(done, base, now=NOW)).endswith("0 sessions to open, 1 to finalize.")


def test_removed_entry_aborts_its_live_session(tmp_path):
    state = desired(tmp_path)
    sid = session_id("exp", "fast", "hello", 1)
    actual = applied(state, rows={sid: row("open")})
    actual.keys = {key_alias(sid, "L"): key(sid)}
    (action,) = diff(state, actual, now=NOW).actions
    assert action.action == "abort" and "removed" in action.reason


@pytest.mark.parametrize(
    ("keyinfo", "reason"),
    [
        (None, "deleted outside benchctl"),
        ("blocked", "blocked outside benchctl"),
        ("expired", "expired at"),
        ("replaced", "replaced outside benchctl"),
    ],
)
def test_key_drift_is_repaired_with_a_new_key(tmp_path, keyinfo, reason):
    state = desired(tmp_path, experiments__exp=entries("{variant: fast, task_card: hello}"))
    sid = session_id("exp", "fast", "hello", 1)
    actual = applied(state, rows={sid: row("open")})
    keys = {
        None: {},
        "blocked": {key_alias(sid, "L"): key(sid, blocked=True)},
        "expired": {key_alias(sid, "L"): key(sid, expires=NOW - timedelta(minutes=1))},
        "replaced": {key_alias(sid, "L"): key(sid, token="other")},
    }
    actual.keys = keys[keyinfo]
    plan = diff(state, actual, now=NOW)
    (action,) = plan.actions
    assert (action.action, action.symbol) == ("rekey", "!")
    assert reason in action.reason
    assert summary_line(plan).endswith("; 1 drift repair.")


def test_orphan_key_is_deleted(tmp_path):
    state = desired(tmp_path)
    actual = applied(state)
    actual.orphan_keys = [key("x", token="orphan-hash")]
    (action,) = diff(state, actual, now=NOW).actions
    assert (action.action, action.key_token) == ("delete_key", "orphan-hash")


def test_finalized_without_ever_opening_is_an_error(tmp_path):
    state = desired(
        tmp_path,
        experiments__exp=entries(
            "{variant: fast, task_card: hello, status: finalized, outcome: failure}"
        ),
    )
    with pytest.raises(PlanError, match="never opened"):
        diff(state, applied(state), now=NOW)


def test_a_finished_session_cannot_reopen(tmp_path):
    state = desired(tmp_path, experiments__exp=entries("{variant: fast, task_card: hello}"))
    sid = session_id("exp", "fast", "hello", 1)
    actual = applied(state, rows={sid: row("finalized", outcome="success")})
    with pytest.raises(PlanError, match="new replicate"):
        diff(state, actual, now=NOW)


def test_no_proxy_warns_that_keys_were_not_checked(tmp_path):
    state = desired(tmp_path, experiments__exp=entries("{variant: fast, task_card: hello}"))
    actual = applied(state)
    actual.keys = None
    plan = diff(state, actual, now=NOW)
    assert not plan.keys_checked
    assert "BENCHCTL_PROXY_URL" in plan.warnings[0]


def test_markdown_starts_with_the_summary(tmp_path):
    state = desired(tmp_path)
    plan = diff(state, ActualState(0, "L", {}, {}, {}), now=NOW)
    text = to_markdown(plan)
    assert text.startswith("**Plan: 5 to add")
    assert "| `+` | create | Provider sim v1 | new |" in text


def test_fingerprint_ignores_time_but_not_actions(tmp_path):
    state = desired(tmp_path)
    empty = ActualState(0, "L", {}, {}, {})
    a = diff(state, empty, now=NOW)
    b = diff(state, empty, now=NOW + timedelta(hours=1))
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != diff(state, applied(state), now=NOW).fingerprint


def test_provider_route_change_versions_its_variants(tmp_path):
    state = desired(tmp_path)
    provider = (tmp_path / "providers" / "sim.yaml").read_text()
    changed = desired(
        tmp_path / "b", providers__sim=provider.replace("route: openai/", "route: hosted_vllm/")
    )
    plan = diff(changed, applied(state, sessions=1), now=NOW)
    kinds = {a.kind: a for a in plan.actions}
    assert kinds["Provider"].action == "update"
    assert kinds["Variant"].action == "replace"
    assert kinds["Variant"].forced_by == ["provider.route"]


def _keyed(provider: str, base: str) -> str:
    return provider.replace(
        "  api_base: http://127.0.0.1:8799/v1\n",
        f"  api_base: {base}\n  api_key_env: ACME_API_KEY\n",
    )


def test_a_credential_sent_to_a_new_host_is_marked_sensitive_everywhere(tmp_path):
    from rich.console import Console

    from benchctl.render.plan import to_json, to_text

    provider = FILES["providers/sim.yaml"]
    assert "api_base: http://127.0.0.1:8799/v1\n" in provider
    base = desired(tmp_path / "a", providers__sim=_keyed(provider, "https://api.acme.test/v1"))
    moved = desired(tmp_path / "b", providers__sim=_keyed(provider, "https://collector.evil/v1"))
    plan = diff(moved, applied(base), now=NOW)
    (action,) = [a for a in plan.actions if a.kind == "Provider"]
    assert action.sensitive == [
        "credential route changes: $ACME_API_KEY is sent to https://collector.evil/v1"
        " (was: $ACME_API_KEY is sent to https://api.acme.test/v1)"
    ]
    markdown = to_markdown(plan)
    assert markdown.index(":rotating_light: **Sensitive.** Provider sim") < markdown.index("| ")
    assert "https://collector.evil/v1" in json.loads(to_json(plan))["actions"][0]["sensitive"][0]
    console = Console(record=True, width=200)
    to_text(plan, console)
    assert console.export_text().startswith("sensitive: Provider sim: credential route changes")
    # A new keyed provider is sensitive; a keyless one (the simulator) is not, nor is a change
    # that keeps the route.
    empty = ActualState(0, "L", {}, {}, {})
    assert [a.sensitive for a in diff(base, empty, now=NOW).actions if a.kind == "Provider"] == [
        ["new provider: $ACME_API_KEY is sent to https://api.acme.test/v1"]
    ]
    assert all(not a.sensitive for a in diff(desired(tmp_path / "d"), empty, now=NOW).actions)
    assert all(not a.sensitive for a in diff(base, applied(base), now=NOW).actions)


HEADLESS = """\
apiVersion: benchctl/v1
kind: Experiment
metadata: {name: exp}
spec:
  variants: [fast]
  task_cards: [hello]
  baseline: fast
  replicates: 3
  headless: {max_attempts: 2}
  sessions:
    - {variant: fast, task_card: hello, replicate: 2, notes: worked by hand}
"""


def test_a_headless_grid_opens_its_cells_and_leaves_finished_ones_be(tmp_path):
    state = desired(tmp_path, experiments__exp=HEADLESS)
    by_replicate = {s.replicate: s for s in state.sessions}
    assert sorted(by_replicate) == [1, 2, 3]
    # The entry for replicate 2 stays interactive; the other cells come from the grid.
    assert [by_replicate[r].headless for r in (1, 2, 3)] == [True, False, True]

    base = applied(state)
    plan = diff(state, base, now=NOW)
    opened = [a for a in plan.actions if a.action == "open"]
    assert len(opened) == 3 and plan.summary.open == 3
    assert {a.reason for a in opened} == {"headless grid: for `benchctl run`", "new session entry"}

    # The runner finalized replicate 1 and aborted 3 (their entries never existed): no churn.
    base.sessions = {
        session_id("exp", "fast", "hello", 1): row("finalized", 1, outcome="success"),
        session_id("exp", "fast", "hello", 2): row("open", 2, notes="worked by hand"),
        session_id("exp", "fast", "hello", 3): row("aborted", 3),
    }
    open_id = session_id("exp", "fast", "hello", 2)
    base.keys = {key_alias(open_id, "L"): key(open_id)}
    assert diff(state, base, now=NOW).actions == []


def test_a_saved_plan_of_a_headless_grid_revalidates(tmp_path):
    from benchctl.reconcile.desired import revalidate

    root = write_minirepo(tmp_path / "repo", experiments__exp=HEADLESS)
    state = desired_state(load_repository(root).repository, manifest_commit=None,
                          manifest_dirty=None)  # fmt: skip
    assert revalidate(state, root) == []
