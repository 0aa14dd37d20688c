"""`benchctl task check` and the task runner underneath it (benchctl/tasks/).

Each test builds a throwaway task repository in tmp_path (a `task_cards/<name>.yaml` and a
`tasks/<name>/` folder), breaks one thing, and runs the real command or the real function.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sandbox import require_bwrap

from benchctl.manifests.loader import load_repository, load_valid_repository
from benchctl.tasks.process import LOG_HEAD, LOG_TAIL, step_env
from benchctl.tasks.verify import verify
from benchctl.tasks.workspace import Task, prepare, setup

REPO_ROOT = Path(__file__).resolve().parents[1]

# The task every test starts from: make answer.txt say 42; the hidden tests hold the answer.
ANSWER_CHECK = 'cmp -s answer.txt "$BENCHCTL_TESTS_DIR/expected.txt"'
SOLVE = "echo 42 > answer.txt\n"
SECRET_NAMES = (
    "BENCHCTL_SESSION_KEY",
    "BENCHCTL_PROXY_MASTER_KEY",
    "LITELLM_MASTER_KEY",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "GITHUB_TOKEN",
)
# A step that fails when any secret of the calling shell reached it.
LEAK_CHECK = (
    f"for v in {' '.join(SECRET_NAMES)}; do"
    ' if [ -n "${!v+x}" ]; then echo "$v leaked"; exit 9; fi; done;'
    " if env | grep -q sk-test; then echo 'an sk-test value leaked'; exit 9; fi"
)


def write_task(
    root: Path,
    name: str = "t",
    *,
    verify_run: str = ANSWER_CHECK,
    verify_timeout: str = "30s",
    pass_threshold: float | None = None,
    workspace: dict[str, str] | None = None,
    tests: dict[str, str] | None = None,
    solution: dict[str, str] | None = None,
    oracle: dict[str, str] | None = None,
    setup_run: str | None = None,
    setup_timeout: str = "30s",
) -> Path:
    """Write task card ``name`` and its folder under ``root``; return the task folder.

    The card is written as JSON, which is YAML too, so shell text needs no YAML quoting.
    """
    folder = root / "tasks" / name
    files = {
        "workspace": {"answer.txt": "0\n"} if workspace is None else workspace,
        "tests": {"expected.txt": "42\n"} if tests is None else tests,
        "solution": {"solve.sh": SOLVE} if solution is None else solution,
    }
    for sub, content in files.items():
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for rel, text in content.items():
            path = folder / sub / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verify_spec: dict[str, Any] = {
        "run": verify_run,
        "tests": f"tasks/{name}/tests",
        "timeout": verify_timeout,
    }
    if pass_threshold is not None:
        verify_spec["pass_threshold"] = pass_threshold
    spec: dict[str, Any] = {
        "title": f"Task {name}",
        "workspace": f"tasks/{name}/workspace",
        "instructions": "Make answer.txt say 42.",
        "verify": verify_spec,
        "oracle": oracle or {"script": f"tasks/{name}/solution/solve.sh", "timeout": "30s"},
        "timebox": "10m",
        "difficulty": "easy",
    }
    if setup_run is not None:
        spec["setup"] = {"run": setup_run, "timeout": setup_timeout}
    card = {"apiVersion": "benchctl/v1", "kind": "TaskCard", "metadata": {"name": name}}
    card["spec"] = spec
    (root / "task_cards").mkdir(parents=True, exist_ok=True)
    (root / "task_cards" / f"{name}.yaml").write_text(json.dumps(card, indent=2) + "\n")
    return folder


def load_task(root: Path, name: str = "t") -> Task:
    return Task(load_valid_repository(root).task_cards[name].model, root)


def check_json(run_cli, root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`task check ARGS --json`: the exit code and the one task's result."""
    result = run_cli("task", "check", *args, "--root", str(root), "--json")
    assert result.stdout.strip(), result.output
    payload = json.loads(result.stdout)
    assert len(payload["tasks"]) == 1, payload
    return result.exit_code, payload["tasks"][0]


def problems_text(task: dict[str, Any]) -> str:
    return "\n".join(task["problems"])


def processes_running(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (pgrep -f, without pgrep)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and str(os.getpid()) != entry.name:
            found.append(f"{entry.name}: {cmdline}")
    return found


# --- task check through the CLI: one failure mode per test ------------------------------------


def test_the_example_card_shape_validates(run_cli, tmp_path: Path):
    """The repositories these tests build are valid with task cards only (no other kinds)."""
    write_task(tmp_path)
    result = run_cli("validate", "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "1 manifest file(s) valid (1 TaskCard)" in result.output


def test_sound_task_passes(run_cli, tmp_path: Path):
    write_task(tmp_path)
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 0, task
    assert task["ok"] is True and task["problems"] == []
    assert task["untouched_reward"] == 0.0
    assert task["oracle_rewards"] == [1.0, 1.0, 1.0]


def test_sound_patch_oracle_passes(run_cli, tmp_path: Path):
    patch = "--- a/answer.txt\n+++ b/answer.txt\n@@ -1 +1 @@\n-0\n+42\n"
    write_task(
        tmp_path,
        solution={"fix.patch": patch},
        oracle={"patch": "tasks/t/solution/fix.patch"},
    )
    code, task = check_json(run_cli, tmp_path, "t", "--repeat", "2")
    assert code == 0, task
    assert task["untouched_reward"] == 0.0
    assert task["oracle_rewards"] == [1.0, 1.0]


def test_already_solved(run_cli, tmp_path: Path):
    write_task(tmp_path, workspace={"answer.txt": "42\n"})
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert task["ok"] is False
    assert task["untouched_reward"] == 1.0
    assert "already solved: the untouched workspace scores 1" in problems_text(task)


def test_oracle_that_does_not_pass(run_cli, tmp_path: Path):
    write_task(tmp_path, solution={"solve.sh": "echo 41 > answer.txt\n"})
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert task["untouched_reward"] == 0.0
    assert task["oracle_rewards"] == [0.0, 0.0, 0.0]
    assert "the oracle does not pass: it scores 0 (pass threshold 1)" in problems_text(task)


def test_oracle_script_that_fails(run_cli, tmp_path: Path):
    write_task(tmp_path, solution={"solve.sh": "echo 'cannot patch the file'\nexit 4\n"})
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert task["oracle_rewards"] == []
    text = problems_text(task)
    assert "the oracle exited 4" in text
    assert "cannot patch the file" in text  # the step's log is quoted


def test_oracle_timing_out(run_cli, tmp_path: Path):
    write_task(
        tmp_path,
        solution={"solve.sh": "sleep 20\n"},
        oracle={"script": "tasks/t/solution/solve.sh", "timeout": "1s"},
    )
    started = time.monotonic()
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert problems_text(task).startswith("the oracle timed out")
    assert time.monotonic() - started < 8


def test_oracle_patch_that_does_not_apply(run_cli, tmp_path: Path):
    patch = "--- a/answer.txt\n+++ b/answer.txt\n@@ -1 +1 @@\n-7\n+42\n"
    write_task(
        tmp_path,
        solution={"fix.patch": patch},
        oracle={"patch": "tasks/t/solution/fix.patch"},
    )
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert "the oracle exited 1" in problems_text(task)


def test_flaky_verifier(run_cli, tmp_path: Path):
    # The untouched workspace fails before the counter; after the oracle, every other
    # verification passes. The counter lives in the workspace, which persists between them.
    flaky = (
        f"{ANSWER_CHECK} || exit 1;"
        " n=$(cat .verifications 2>/dev/null || echo 0); echo $((n + 1)) > .verifications;"
        " [ $((n % 2)) -eq 0 ]"
    )
    write_task(tmp_path, verify_run=flaky)
    code, task = check_json(run_cli, tmp_path, "t", "--repeat", "4")
    assert code == 1
    assert task["oracle_rewards"] == [1.0, 0.0, 1.0, 0.0]
    assert "flaky verifier: 4 verifications of the same workspace gave 1, 0, 1, 0" in (
        problems_text(task)
    )


@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
def test_verifier_timeout_kills_its_process_group(run_cli, tmp_path: Path, sandbox: str):
    if sandbox == "bwrap":
        require_bwrap()
    marker = f"sleep 31.{os.getpid() % 1000:03d}{'1' if sandbox == 'none' else '2'}"
    # Under bubblewrap even a child that left the process group (setsid) dies with the
    # sandbox's pid namespace; without it, killing the group is all there is.
    escape = f"setsid {marker} & " if sandbox == "bwrap" else ""
    write_task(tmp_path, verify_run=f"{escape}{marker} & sleep 30", verify_timeout="1s")
    started = time.monotonic()
    code, task = check_json(run_cli, tmp_path, "t", "--sandbox", sandbox)
    elapsed = time.monotonic() - started
    assert code == 1
    text = problems_text(task)
    assert "the verifier errored on the untouched workspace" in text
    assert "ran past its timeout of 1s and was killed" in text
    assert elapsed < 8, f"task check took {elapsed:.1f}s for a 1s verifier timeout"
    deadline = time.monotonic() + 2  # the kernel may take a moment to reap the namespace
    while (left := processes_running(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"the verifier's background process survived: {left}"


def test_setup_failing(run_cli, tmp_path: Path):
    write_task(tmp_path, setup_run="echo installing; echo 'no such package' >&2; exit 3")
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert task["untouched_reward"] is None and task["oracle_rewards"] == []
    text = problems_text(task)
    assert text.startswith("setup exited 3")
    assert "no such package" in text


def test_setup_timing_out(run_cli, tmp_path: Path):
    write_task(tmp_path, setup_run="sleep 20", setup_timeout="1s")
    started = time.monotonic()
    code, task = check_json(run_cli, tmp_path, "t")
    assert code == 1
    assert problems_text(task).startswith("setup timed out")
    assert time.monotonic() - started < 8


def test_secrets_of_the_calling_shell_reach_no_step(run_cli, tmp_path: Path, monkeypatch):
    for index, name in enumerate(SECRET_NAMES):
        monkeypatch.setenv(name, f"sk-test-{index}-abcdefghijklmnopqrstuvwxyz")
    write_task(
        tmp_path,
        setup_run=LEAK_CHECK,
        verify_run=f"{LEAK_CHECK}; {ANSWER_CHECK}",
        solution={"solve.sh": f"{LEAK_CHECK}\n{SOLVE}"},
    )
    code, task = check_json(run_cli, tmp_path, "t")
    # A leak fails setup, makes the oracle exit 9 or the verifier score 0 after it.
    assert code == 0, task
    assert task["untouched_reward"] == 0.0
    assert task["oracle_rewards"] == [1.0, 1.0, 1.0]


def test_step_env_is_built_not_inherited(tmp_path: Path, monkeypatch):
    for name in SECRET_NAMES:
        monkeypatch.setenv(name, "sk-test-abcdefghijklmnopqrstuvwxyz")
    monkeypatch.setenv("SOME_UNRELATED_VAR", "x")
    env = step_env(tmp_path, {"BENCHCTL_WORKSPACE": "/w"})
    for name in SECRET_NAMES:
        assert name not in env
    assert not [k for k, v in env.items() if "sk-test" in v]
    assert "SOME_UNRELATED_VAR" not in env
    assert env["HOME"] == str(tmp_path) and env["BENCHCTL_WORKSPACE"] == "/w"
    assert set(env) <= {
        "PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE",
        "BENCHCTL_WORKSPACE",
    }  # fmt: skip


def test_human_table_output(run_cli, tmp_path: Path):
    write_task(tmp_path, "good")
    write_task(tmp_path, "solved", workspace={"answer.txt": "42\n"})
    result = run_cli("task", "check", "--root", str(tmp_path), "--repeat", "2")
    assert result.exit_code == 1
    out = result.stdout
    lines = out.splitlines()
    header = next(line for line in lines if "task card" in line)
    for column in ("untouched", "oracle", "repeats", "result"):
        assert column in header
    good = next(line for line in lines if " good " in line)
    assert "ok" in good and "broken" not in good
    solved = next(line for line in lines if " solved " in line and "│" in line)
    assert "broken" in solved
    assert "solved: already solved: the untouched workspace scores 1" in out
    assert "1 of 2 task card(s) sound" in out
    # progress goes to stderr, not into the table
    assert "verify oracle 2/2" in result.stderr and "verify oracle" not in out


def test_unknown_task_name_is_a_usage_error(run_cli, tmp_path: Path):
    write_task(tmp_path)
    result = run_cli("task", "check", "nope", "--root", str(tmp_path))
    assert result.exit_code == 2
    assert "no task card named nope; known: t" in result.output


# --- verify() directly: reward files, errors, per-test checks ---------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "answer.txt").write_text("0\n")
    return folder


def verify_with(root: Path, workspace: Path, run: str, **kwargs: Any):
    write_task(root / "repo", verify_run=run, **kwargs)
    return verify(load_task(root / "repo"), workspace, sandbox=False)


def test_reward_json_with_subscores(tmp_path: Path, workspace: Path):
    found = verify_with(
        tmp_path,
        workspace,
        """echo '{"reward": 0.5, "style": 0.25, "tests": 1}'"""
        ' > "$BENCHCTL_VERIFIER_DIR/reward.json"; exit 1',
    )
    assert found.status == "scored" and found.error is None
    assert found.reward == 0.5
    assert found.subscores == {"style": 0.25, "tests": 1.0}
    assert found.reward_source == "reward.json"
    assert found.outcome == "partial"
    assert found.exit_code == 1


def test_reward_json_without_reward_is_the_mean(tmp_path: Path, workspace: Path):
    found = verify_with(
        tmp_path, workspace, """echo '{"a": 1, "b": 0}' > "$BENCHCTL_VERIFIER_DIR/reward.json\""""
    )
    assert found.status == "scored"
    assert found.reward == 0.5 and found.subscores == {"a": 1.0, "b": 0.0}


def test_pass_threshold_decides_the_outcome(tmp_path: Path, workspace: Path):
    found = verify_with(
        tmp_path,
        workspace,
        'echo 0.8 > "$BENCHCTL_VERIFIER_DIR/reward.txt"',
        pass_threshold=0.75,
    )
    assert found.reward == 0.8 and found.outcome == "success"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"reward": 1.5}', "outside [0, 1]"),
        ('{"reward": 0.5, "style": -0.1}', "outside [0, 1]"),
        ("reward: 1", "reward.json is not JSON"),
        ('{"reward": "1"}', "not a number"),
        ("[1]", "not an object of named scores"),
    ],
)
def test_unusable_reward_json_is_an_error(
    tmp_path: Path, workspace: Path, content: str, message: str
):
    (tmp_path / "reward.json").write_text(content)
    found = verify_with(
        tmp_path, workspace, f'cp "{tmp_path}/reward.json" "$BENCHCTL_VERIFIER_DIR/"'
    )
    assert found.status == "error"
    assert found.reward is None and found.outcome is None and found.reward_source is None
    assert found.error is not None
    assert "the verifier's reward file is not usable" in found.error
    assert message in found.error


def test_reward_txt_is_read(tmp_path: Path, workspace: Path):
    found = verify_with(tmp_path, workspace, 'echo " 0.25 " > "$BENCHCTL_VERIFIER_DIR/reward.txt"')
    assert found.status == "scored"
    assert found.reward == 0.25 and found.reward_source == "reward.txt"
    assert found.outcome == "partial" and found.subscores == {}


def test_reward_txt_not_a_number_is_an_error(tmp_path: Path, workspace: Path):
    found = verify_with(tmp_path, workspace, 'echo passed > "$BENCHCTL_VERIFIER_DIR/reward.txt"')
    assert found.status == "error"
    assert found.error is not None and "reward.txt holds 'passed', not a number" in found.error


def test_exit_code_is_the_reward_without_a_file(tmp_path: Path, workspace: Path):
    failed = verify_with(tmp_path / "a", workspace, "exit 3")
    assert failed.status == "scored" and failed.reward == 0.0 and failed.outcome == "failure"
    assert failed.reward_source == "exit-code" and failed.exit_code == 3
    passed = verify_with(tmp_path / "b", workspace, "true")
    assert passed.reward == 1.0 and passed.outcome == "success"


def test_command_not_found_is_an_error(tmp_path: Path, workspace: Path):
    found = verify_with(tmp_path, workspace, "no-such-verifier-command --run")
    assert found.status == "error"
    assert found.exit_code == 127 and found.reward is None
    assert found.error is not None and "could not run (exit 127)" in found.error
    assert "not found" in found.log


HIDDEN_TESTS = {
    "test_hidden.py": "def test_ok():\n    assert True\n\n\ndef test_bad():\n    assert 1 == 2\n",
}
PYTEST = 'python -m pytest -rA -p no:cacheprovider "$BENCHCTL_TESTS_DIR"'


@pytest.mark.parametrize("junit", [True, False], ids=["junit-xml", "pytest-lines"])
def test_per_test_checks(tmp_path: Path, workspace: Path, junit: bool):
    run = PYTEST + (' --junitxml="$BENCHCTL_VERIFIER_DIR/junit.xml"' if junit else "")
    found = verify_with(tmp_path, workspace, run, tests=HIDDEN_TESTS)
    assert found.status == "scored", found.log
    assert found.reward == 0.0  # pytest exits 1: one test failed
    statuses = {c.name.rsplit("::", 1)[-1]: c.status for c in found.checks}
    assert statuses == {"test_ok": "passed", "test_bad": "failed"}, found.checks
    assert all("test_hidden" in c.name for c in found.checks)
    assert (found.passed, found.failed) == (1, 1)
    assert found.tests_hash is not None


def test_hidden_tests_are_absent_while_the_agent_works(tmp_path: Path):
    root = tmp_path / "repo"
    marker = "test_secret_marker_7c1.py"
    write_task(
        root,
        tests={marker: "def test_x():\n    pass\n", "data/expected.txt": "42\n"},
        setup_run='env | sort; ls -la; ls -R /tests "$BENCHCTL_TESTS_DIR" 2>&1 || true',
    )
    task = load_task(root)
    ws = prepare(task, tmp_path / "ws", sandbox=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = setup(task, ws, scratch, sandbox=shutil.which("bwrap") is not None)
    assert done is not None and done.exit_code == 0, done
    names = {p.name for p in ws.rglob("*")}
    assert names == {"answer.txt"}, names
    assert marker not in done.log and "BENCHCTL_TESTS_DIR" not in done.log
    assert "BENCHCTL_VERIFIER_DIR" not in done.log


def test_agent_planted_rewards_are_ignored(tmp_path: Path, workspace: Path):
    # The "agent" leaves reward files everywhere a careless verifier might read them.
    (workspace / "reward.txt").write_text("1\n")
    (workspace / "reward.json").write_text('{"reward": 1}\n')
    for folder in ("logs/verifier", "out", "BENCHCTL_VERIFIER_DIR", "$BENCHCTL_VERIFIER_DIR"):
        (workspace / folder).mkdir(parents=True)
        (workspace / folder / "reward.txt").write_text("1\n")
    (workspace / "junit.xml").write_text('<testsuite><testcase name="planted"/></testsuite>')
    by_exit = verify_with(tmp_path / "a", workspace, ANSWER_CHECK)
    assert by_exit.status == "scored"
    assert (by_exit.reward, by_exit.reward_source) == (0.0, "exit-code")
    assert by_exit.checks == []
    own_file = verify_with(
        tmp_path / "b", workspace, 'echo 0.25 > "$BENCHCTL_VERIFIER_DIR/reward.txt"; exit 0'
    )
    assert (own_file.reward, own_file.reward_source) == (0.25, "reward.txt")


def test_each_verification_gets_fresh_folders(tmp_path: Path, workspace: Path):
    # A verifier that leaves a reward file behind in its output folder cannot score the next.
    # Scores 0 if it finds anything an earlier run left; else writes 1 and leaves litter.
    run = (
        'out="$BENCHCTL_VERIFIER_DIR";'
        ' if [ -n "$(ls -A "$out")$(ls -A "$HOME")" ]'
        ' || grep -q tampered "$BENCHCTL_TESTS_DIR/expected.txt";'
        ' then echo 0 > "$out/reward.txt"; exit 1; fi;'
        ' echo 1 > "$out/reward.txt"; echo x > "$HOME/left";'
        ' echo tampered >> "$BENCHCTL_TESTS_DIR/expected.txt"; exit 1'
    )
    write_task(tmp_path / "repo", verify_run=run)
    task = load_task(tmp_path / "repo")
    first = verify(task, workspace, sandbox=False)
    second = verify(task, workspace, sandbox=False)
    assert first.reward == second.reward == 1.0, (first.log, second.log)
    assert first.tests_hash == second.tests_hash
    assert (tmp_path / "repo/tasks/t/tests/expected.txt").read_text() == "42\n"


# --- the sandbox ------------------------------------------------------------------------------


@pytest.fixture
def outside_dirs(tmp_path: Path) -> Iterator[list[Path]]:
    """Writable folders outside any workspace: one under /tmp (tmp_path), one on the host's
    own file system (/var/tmp), which the sandbox shows read-only rather than not at all."""
    folders = [tmp_path / "outside"]
    folders[0].mkdir()
    with contextlib.suppress(OSError):
        folders.append(Path(tempfile.mkdtemp(prefix="benchctl-test-outside-", dir="/var/tmp")))
    yield folders
    for folder in folders[1:]:
        shutil.rmtree(folder, ignore_errors=True)


HARBOR_VERIFIER = (
    "if cmp -s answer.txt /tests/expected.txt; then echo 1; else echo 0; fi"
    " > /logs/verifier/reward.txt"
)


def test_bwrap_keeps_writes_inside_and_shows_harbor_paths(
    run_cli, tmp_path: Path, outside_dirs: list[Path]
):
    require_bwrap()
    touches = "; ".join(f"touch '{d}/written' 2>/dev/null" for d in outside_dirs)
    write_task(
        tmp_path / "repo",
        setup_run=touches + "; true",
        # Always exits 0: only /logs/verifier/reward.txt makes the untouched workspace fail.
        verify_run=f"{touches}; {HARBOR_VERIFIER}; exit 0",
        solution={
            "solve.sh": f"{touches}\ncp /solution/answer.txt answer.txt\n",
            "answer.txt": "42\n",
        },
    )
    code, task = check_json(run_cli, tmp_path / "repo", "t", "--sandbox", "bwrap")
    assert code == 0, task
    assert task["untouched_reward"] == 0.0 and task["oracle_rewards"] == [1.0] * 3
    for folder in outside_dirs:
        assert not (folder / "written").exists(), f"a step wrote to {folder}"


def test_bwrap_observations(tmp_path: Path, outside_dirs: list[Path]):
    """What a verifier sees under bubblewrap, from its own log."""
    require_bwrap()
    root = tmp_path / "repo"
    state = root / ".benchctl"
    state.mkdir(parents=True)
    (state / "secret.env").write_text("KEY=1\n")
    probes = [f"touch '{d}/written' && echo WROTE {d}" for d in outside_dirs] + [
        "cat /tests/expected.txt | sed 's/^/TESTS:/'",
        "echo ok > /logs/verifier/probe && echo LOGS-WRITABLE",
        'test -e /logs/verifier/probe -a -e "$BENCHCTL_VERIFIER_DIR/probe" && echo SAME-DIR',
        f"test -e '{state}/secret.env' && echo STATE-VISIBLE",
        "touch /tests/new 2>/dev/null && echo TESTS-WRITABLE",
        "touch in-workspace && echo WS-WRITABLE",
    ]
    write_task(root, verify_run="; ".join(f"{{ {p}; }}" for p in probes) + "; exit 1")
    ws = tmp_path / "ws"
    ws.mkdir()
    task = load_task(root)
    found = verify(task, ws, sandbox=True, hidden=[state])
    assert found.sandbox == "bwrap"
    log = found.log
    assert "WROTE" not in log
    assert "TESTS:42" in log and "LOGS-WRITABLE" in log and "SAME-DIR" in log
    assert "WS-WRITABLE" in log and (ws / "in-workspace").exists()
    assert "STATE-VISIBLE" not in log
    assert "TESTS-WRITABLE" not in log
    for folder in outside_dirs:
        assert not (folder / "written").exists()
    # Without the sandbox the same probes do write: the assertions above are not vacuous.
    unsandboxed = verify(task, ws, sandbox=False)
    assert unsandboxed.sandbox == "none"
    for folder in outside_dirs:
        assert (folder / "written").exists()


@pytest.mark.parametrize("sandbox", ["none", "bwrap"])
def test_env_var_paths_work_in_both_modes(run_cli, tmp_path: Path, sandbox: str):
    if sandbox == "bwrap":
        require_bwrap()
    write_task(
        tmp_path,
        verify_run=(
            'test "$PWD" = "$BENCHCTL_WORKSPACE" || exit 5;'
            ' if cmp -s answer.txt "$BENCHCTL_TESTS_DIR/expected.txt"; then echo 1; else'
            ' echo 0; fi > "$BENCHCTL_VERIFIER_DIR/reward.txt"'
        ),
        solution={
            "solve.sh": 'cp "$BENCHCTL_SOLUTION_DIR/answer.txt" "$BENCHCTL_WORKSPACE/"\n',
            "answer.txt": "42\n",
        },
    )
    code, task = check_json(run_cli, tmp_path, "t", "--sandbox", sandbox, "--repeat", "2")
    assert code == 0, task
    assert task["untouched_reward"] == 0.0 and task["oracle_rewards"] == [1.0, 1.0]


# --- the step log -----------------------------------------------------------------------------


def test_output_is_capped(tmp_path: Path, workspace: Path):
    found = verify_with(
        tmp_path,
        workspace,
        "echo FIRST-LINE; head -c 1000000 /dev/zero | tr '\\0' a; echo; echo LAST-LINE",
    )
    assert found.status == "scored"
    assert len(found.log.encode()) < 200_000
    assert "bytes of output left out" in found.log
    assert found.log.startswith("FIRST-LINE") and "LAST-LINE" in found.log


def test_secret_in_output_is_redacted(tmp_path: Path, workspace: Path):
    key = "sk-" + "abcdefghijklmnopqrstuvwxyzABCD"
    # Built at run time: a key written in a task card is itself refused by validation.
    found = verify_with(
        tmp_path, workspace, 'echo "token=sk-$(echo abcdefghijklmnopqrstuvwxyzABCD)"; exit 1'
    )
    assert key not in found.log
    assert "abcdefghijklmnop" not in found.log
    assert "redacted" in found.log


def test_secret_across_the_log_cut_is_redacted(tmp_path: Path, workspace: Path):
    """A key that straddles the point where the kept tail starts must not leak its rest."""
    key = "sk-" + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcd"
    # Total output: head + 10,000 dropped bytes + tail, where the tail starts 5 characters
    # into the key ("sk-AB" falls in the dropped part).
    before = LOG_HEAD + 10_000 + 5
    after = LOG_TAIL - (len(key) - 5)
    script = tmp_path / "emit.py"
    script.write_text(
        f"import sys\nsys.stdout.write('x' * {before - 5} + {key!r} + 'y' * {after})\n"
    )
    found = verify_with(tmp_path, workspace, f"python '{script}'; exit 1")
    assert "bytes of output left out" in found.log
    leaked = key[5:] in found.log
    assert not leaked, f"the key's last {len(key) - 5} characters are in the log unredacted"


# --- the example tasks of this repository -----------------------------------------------------


def test_example_tasks_are_sound(run_cli):
    """`benchctl task check` on this repository: every task card whose workspace is a folder of
    the repository is sound. (The GitHub-hosted ones clone over the network, which a test
    machine may not reach.)"""
    from benchctl.manifests.loader import load_valid_repository

    cards = load_valid_repository(REPO_ROOT).task_cards
    local = sorted(n for n, c in cards.items() if c.model.spec.workspace and c.model.spec.verify)
    assert len(local) >= 3, local
    result = run_cli("task", "check", *local, "--root", str(REPO_ROOT), "--json", "--repeat", "2")
    payload = json.loads(result.stdout)
    broken = {t["task_card"]: t["problems"] for t in payload["tasks"] if not t["ok"]}
    assert result.exit_code == 0 and not broken, json.dumps(broken, indent=2)
    assert payload["tasks"], "no example task card has verify"


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def test_changed_since_checks_only_what_a_change_touched(run_cli, tmp_path: Path):
    """The validate workflow's step: a pull request's changed task cards, and only those."""
    write_task(tmp_path, "a")
    write_task(tmp_path, "b")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "base")

    nothing = run_cli("task", "check", "--changed-since", "HEAD", "--root", str(tmp_path))
    assert nothing.exit_code == 0, nothing.output
    assert "No task card changed since HEAD" in nothing.output

    # A hidden test edited (uncommitted), and a new task card (untracked), count as changed.
    (tmp_path / "tasks" / "b" / "tests" / "expected.txt").write_text("42\n\n")
    write_task(tmp_path, "c", workspace={"answer.txt": "42\n"})  # already solved
    code_and = run_cli(
        "task", "check", "--changed-since", "HEAD", "--root", str(tmp_path), "--json"
    )
    checked = {t["task_card"]: t for t in json.loads(code_and.stdout)["tasks"]}
    assert sorted(checked) == ["b", "c"]
    assert code_and.exit_code == 1 and "already solved" in " ".join(checked["c"]["problems"])

    bad = run_cli("task", "check", "--changed-since", "no-such-rev", "--root", str(tmp_path))
    assert bad.exit_code == 2 and "git diff failed" in bad.output and "bad revision" in bad.output


def test_a_step_that_leaves_a_daemon_behind_still_returns(tmp_path: Path):
    """Without the sandbox, a descendant that left the process group (setsid) survives the
    kill and holds the output pipe open: the step must still end, with its log."""
    from benchctl.tasks.process import run_step, step_env

    marker = f"benchctl-daemon-{tmp_path.name}"
    script = f"setsid bash -c 'while :; do echo {marker}; sleep 1; done' & sleep 0.3; echo started"
    started = time.monotonic()
    try:
        done = run_step(
            ["bash", "-c", script], cwd=tmp_path, env=step_env(tmp_path, {}), timeout=20,
            sandbox=False,
        )  # fmt: skip
    finally:
        subprocess.run(["pkill", "-f", marker], check=False)
    assert time.monotonic() - started < 10
    assert done.exit_code == 0 and "started" in done.log


def test_a_hidden_folder_inside_the_workspace_stays_hidden(tmp_path: Path):
    require_bwrap()
    from benchctl.tasks.process import run_step, step_env

    workspace = tmp_path / "ws"
    (workspace / ".benchctl").mkdir(parents=True)
    (workspace / ".benchctl" / "session.env").write_text("SECRET-VALUE\n")
    done = run_step(
        ["bash", "-c", "cat .benchctl/session.env; echo listing: $(ls -A .benchctl); echo end"],
        cwd=workspace, env=step_env(tmp_path, {}), timeout=20, sandbox=True,
        hidden=[workspace / ".benchctl"],
    )  # fmt: skip
    assert "end" in done.log and "SECRET-VALUE" not in done.log
    assert "No such file or directory" in done.log and "listing:\n" in done.log


def test_exit_127_with_a_reward_file_is_scored(tmp_path: Path):
    """127 means "the verifier never ran" only when it left no reward of its own."""
    write_task(
        tmp_path,
        verify_run='echo 0.5 > "$BENCHCTL_VERIFIER_DIR/reward.txt"; exit 127',
    )
    found = verify(load_task(tmp_path), tmp_path / "tasks" / "t" / "workspace", sandbox=False)
    assert (found.status, found.reward, found.outcome) == ("scored", 0.5, "partial")


@pytest.mark.parametrize("target", ["outside", "loop"])
def test_task_folders_that_leave_the_repository_are_refused(tmp_path: Path, target: str):
    """A pull request that points a task's hidden tests at the host (or at a symlink loop)
    gets BC314 from validate, and `task check` never reads through it."""
    repo = tmp_path / "repo"
    folder = write_task(repo)
    shutil.rmtree(folder / "tests")
    if target == "outside":
        secret = tmp_path / "host-secrets"
        secret.mkdir()
        (secret / "expected.txt").write_text("42\n")
        (folder / "tests").symlink_to(secret)
    else:
        (folder / "tests").symlink_to(folder / "tests")
    result = load_repository(repo)
    assert [d.code for d in result.errors] == ["BC314"]
    assert "leaves the repository" in result.errors[0].message
