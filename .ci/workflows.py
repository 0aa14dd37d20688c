"""Rehearse the GitHub workflows' benchctl steps on this machine, as a runner would run them.

Each workflow's own install step runs in a fresh venv (one per distinct install command), and
in every job that calls benchctl, each `run:` step but those that talk to GitHub (`git push`,
`gh`) runs in bash with that venv first on PATH and the job's and step's `env:`, its secrets
pointing at a local stack (`benchctl up`, started with the proxy extra from
another venv). The loop a pull request meets: validate, an operator's session entry, plan (the
PR comment), apply (opens the session), the session's harness makes traffic, collect, report.
Then a headless grid is merged and applied, and run.yml runs it: its matrix job's output
starts one runner job per entry (concurrently, sharing the grid through the database), then
its report job collects and reports. Step conditions on inputs are honoured (RUN_INPUTS says
which of run.yml's defaults the rehearsal changes, and why); jobs' own conditions are not (the
rehearsal is the path where every step succeeds).

    python .ci/workflows.py --repo CLONE --venvs DIR --stack-python PYTHON
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ORDER = ("validate.yml", "plan.yml", "apply.yml", "collect.yml", "run.yml")
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
# What a session entry of a pull request asks for: the simulated provider, so traffic is free.
SESSION = ("demo", "sdk-sim-fast", "fix-median")
# A headless grid a pull request adds (docs/runs.md): two sessions, for run.yml's two runners.
GRID = "ci-grid"
GRID_MANIFEST = f"""\
apiVersion: benchctl/v1
kind: Experiment
metadata:
  name: {GRID}
  description: The CI rehearsal's headless grid, run by run.yml's runner jobs.
spec:
  variants: [sdk-sim-fast]
  task_cards: [fix-median, wordfreq-shell]
  baseline: sdk-sim-fast
  replicates: 1
  session_policy: {{ttl: 1h, budget_usd: 10}}
  headless: {{max_attempts: 2}}
  sessions: []
"""
# run.yml's inputs but its defaults: this grid, two runners of one session at a time each; the
# simulated grid's SDK script needs no harness CLI. No sandbox: bubblewrap gives each step a
# fresh /tmp, and the SDK script imports benchctl from this clone's editable install, under
# /tmp here (on GitHub the checkout is under /home). tests/test_run.py runs under bubblewrap.
RUN_INPUTS = {
    "experiment": GRID,
    "runners": "2",
    "jobs": "1",
    "sandbox": "none",
    "harness_clis": "false",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sh(argv: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    print(f"::: workflows: {' '.join(argv)}", file=sys.stderr, flush=True)
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"workflows: {argv} exited {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def spend_logs(database_url: str) -> int:
    import psycopg  # the stack's venv has it; this script runs there

    with psycopg.connect(database_url) as conn:
        row = conn.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()
    return int(row[0]) if row else 0


def wait_for_spend_logs(database_url: str, at_least: int = 1, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while spend_logs(database_url) < at_least:
        if time.monotonic() > deadline:
            sys.exit("workflows: the proxy logged no spend for the session's traffic in 60 s")
        time.sleep(1)


def stack_secrets(repo: Path) -> dict[str, str]:
    """The secrets a deployment would hold, pointed at the local stack `up` started."""
    stack = repo / ".benchctl" / "stack"
    parts = json.loads((stack / "state.json").read_text())["parts"]
    master = (stack / "master.key").read_text().strip()
    database = parts["postgres"]["database_url"]
    return {
        "BENCHCTL_DATABASE_URL": database,
        "BENCHCTL_PLAN_DATABASE_URL": database,
        "BENCHCTL_PROXY_URL": parts["proxy"]["url"],
        "BENCHCTL_PROXY_MASTER_KEY": master,
        "BENCHCTL_PLAN_PROXY_KEY": master,
        "BENCHCTL_LITELLM_DATABASE_URL": parts["proxy"]["database_url"],
        "BENCHCTL_PROMETHEUS_URL": parts["prometheus"]["url"] if "prometheus" in parts else "",
    }


def evaluate(expression: str, context: dict[str, str]) -> str:
    """An expression's value: a name of the context, a 'literal', or `a || b`."""
    value = ""
    for alternative in (a.strip() for a in expression.split("||")):
        if alternative.startswith("'") and alternative.endswith("'"):
            value = alternative[1:-1]
        elif alternative in context:
            value = context[alternative]
        elif alternative.startswith("secrets."):
            value = ""  # a secret the deployment does not set
        elif alternative.startswith(("inputs.", "matrix.", "steps.", "needs.")):
            sys.exit(f"workflows: the rehearsal has no value for {alternative}")
        else:
            value = "ci-rehearsal"  # github.actor, run ids, SHAs: any stable word will do
        if value:
            return value
    return value


def substitute(value: Any, context: dict[str, str]) -> str:
    return EXPRESSION.sub(lambda match: evaluate(match.group(1), context), str(value))


def condition(expression: Any, context: dict[str, str]) -> bool:
    """Whether a step runs, for the conditions the workflows' steps use."""
    if expression is None:
        return True
    expression = str(expression).strip()
    if expression.startswith("${{") and expression.endswith("}}"):
        expression = expression[3:-2].strip()
    if expression == "always()":
        return True  # the rehearsal is the path where every earlier step succeeded
    compared = re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", expression)
    if compared:
        name, operator, literal = compared.groups()
        return (evaluate(name, context) == literal) == (operator == "==")
    if re.fullmatch(r"inputs\.[\w-]+", expression):
        return evaluate(expression, context) == "true"
    sys.exit(f"workflows: the rehearsal cannot evaluate the condition {expression!r}")


def github_outputs(path: Path) -> dict[str, str]:
    """The `name=value` lines a step appended to $GITHUB_OUTPUT."""
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


class Runner:
    def __init__(self, repo: Path, venvs: Path, secrets: dict[str, str]) -> None:
        self.repo = repo
        self.venvs = venvs
        self.secrets = secrets
        self.installed: dict[str, Path] = {}
        self.installing = threading.Lock()  # matrix jobs run at once
        self.github = venvs / "github"
        self.github.mkdir(exist_ok=True)
        self.artifacts = self.github / "artifacts"

    def venv_for(self, install: str) -> Path:
        """A fresh venv per distinct install command, installed by exactly that command."""
        with self.installing:
            if install not in self.installed:
                self.installed[install] = self._install(install)
            return self.installed[install]

    def _install(self, install: str) -> Path:
        venv = self.venvs / f"workflow-{hashlib.sha256(install.encode()).hexdigest()[:8]}"
        sh([sys.executable, "-m", "venv", str(venv)], cwd=self.repo)
        sh([str(venv / "bin" / "python"), "-m", "pip", "install", "-U", "pip"], cwd=self.repo)
        self.bash(install, venv, {})
        for module in ("litellm", "prisma"):  # no workflow needs the local stack
            found = subprocess.run(
                [str(venv / "bin" / "python"), "-c", f"import {module}"],
                capture_output=True,
                check=False,
            )
            if found.returncode == 0:
                sys.exit(f"workflows: `{install}` installed {module}, an extra's package")
        return venv

    def bash(
        self,
        script: str,
        venv: Path | None,
        step_env: dict[str, Any],
        context: dict[str, str] | None = None,
        output: Path | None = None,
        workspace: Path | None = None,
    ) -> str:
        workspace = workspace or self.repo
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_")}
        env.pop("CI", None)
        if venv is not None:
            env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv))
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_RUN_ID="1",
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_STEP_SUMMARY=str(self.github / "summary.md"),
            GITHUB_OUTPUT=str(output or self.github / "output"),
        )
        context = {**self.context, **(context or {})}
        env.update({name: substitute(value, context) for name, value in step_env.items()})
        # GitHub's `run:` shell.
        shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
        return sh(shell, cwd=workspace, env=env)

    @property
    def context(self) -> dict[str, str]:
        return {f"secrets.{name}": value for name, value in self.secrets.items()}

    def workflow(
        self,
        name: str,
        inputs: dict[str, str] | None = None,
        before_job: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Run the benchctl steps of every job of ``name`` (and the steps of jobs that compute
        another's matrix), with ``inputs`` over the workflow's defaults; their outputs."""
        document = yaml.safe_load((self.repo / ".github" / "workflows" / name).read_text())
        triggers = document.get("on", document.get(True)) or {}
        declared = (triggers.get("workflow_dispatch") or {}).get("inputs") or {}
        context = {
            f"inputs.{key}": _text(spec.get("default", "")) for key, spec in declared.items()
        }
        context.update({f"inputs.{key}": value for key, value in (inputs or {}).items()})
        outputs: list[str] = []
        for job_id, job in document["jobs"].items():
            scripts = [step.get("run", "") for step in job["steps"]]
            if not any(_calls_benchctl(script) for script in scripts) and "outputs" not in job:
                continue  # e.g. the job that runs .ci/run itself
            if before_job is not None:
                before_job(job_id)
            entries = self.matrix(job, context)
            job_outputs: dict[str, str] = {}
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(entries)) as pool:
                done = [
                    pool.submit(
                        self.job, name, f"{job_id}-{i}", job, {**context, **entry}, len(entries) > 1
                    )
                    for i, entry in enumerate(entries, 1)
                ]
                for future in done:  # in order; a failed job's SystemExit is raised here
                    job_outputs, texts = future.result()
                    outputs.extend(texts)
            context.update(
                {f"needs.{job_id}.outputs.{key}": value for key, value in job_outputs.items()}
            )
        return outputs

    def matrix(self, job: dict[str, Any], context: dict[str, str]) -> list[dict[str, str]]:
        """One context per matrix entry (one entry without a matrix); values from JSON."""
        matrix = (job.get("strategy") or {}).get("matrix")
        if not matrix:
            return [{}]
        ((key, values),) = matrix.items()
        if isinstance(values, str):
            inner = EXPRESSION.fullmatch(values.strip())
            source = re.fullmatch(r"fromJSON\((.+)\)", inner.group(1)) if inner else None
            if source is None:
                sys.exit(f"workflows: the rehearsal cannot expand the matrix {values!r}")
            values = json.loads(evaluate(source.group(1), context))
        return [{f"matrix.{key}": str(value)} for value in values]

    def job(
        self, name: str, run_id: str, job: dict[str, Any], context: dict[str, str], own: bool
    ) -> tuple[dict[str, str], list[str]]:
        """One job (one matrix entry): its outputs, and its steps' standard outputs. With
        ``own``, in a checkout of its own, as each matrix job on GitHub has a machine of its own:
        a copy of the repository's files but benchctl's state."""
        stem = f"{Path(name).stem}-{run_id}"
        output = self.github / f"output-{stem}"
        workspace = self.repo
        if own:
            workspace = self.venvs / f"checkout-{stem}"
            shutil.copytree(self.repo, workspace, ignore=shutil.ignore_patterns(".benchctl"))
        venv = None
        texts = []
        for step in job["steps"]:
            if not condition(step.get("if"), context):
                continue
            uses = str(step.get("uses", ""))
            if uses.startswith(("actions/upload-artifact@", "actions/download-artifact@")):
                self.artifact(uses, step.get("with", {}), context, workspace)
                continue
            script = step.get("run", "")
            if not script or "git push" in script or "gh " in script:
                continue
            if "pip install" in script:
                venv = self.venv_for(script)
                continue
            if venv is None and _calls_benchctl(script):
                sys.exit(f"workflows: {name} runs a step before installing benchctl")
            output.unlink(missing_ok=True)
            env = {**job.get("env", {}), **step.get("env", {})}
            texts.append(self.bash(script, venv, env, context, output, workspace))
            if "id" in step:
                context.update(
                    {
                        f"steps.{step['id']}.outputs.{key}": value
                        for key, value in github_outputs(output).items()
                    }
                )
        return {key: substitute(v, context) for key, v in job.get("outputs", {}).items()}, texts

    def artifact(
        self, uses: str, given: dict[str, Any], context: dict[str, str], workspace: Path
    ) -> None:
        """What the artifact actions do with a file, for the ways the workflows use them: an
        upload keeps one file under a name, a download of a pattern merges them into a folder."""
        given = {key: substitute(value, context) for key, value in given.items()}
        if uses.startswith("actions/upload-artifact@"):
            source = workspace / given["path"]
            if source.is_file():
                kept = self.artifacts / given["name"]
                kept.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, kept / source.name)
            elif given.get("if-no-files-found") != "ignore":
                sys.exit(f"workflows: nothing to upload at {given['path']}")
            return
        if "pattern" not in given or given.get("merge-multiple") != "True":
            sys.exit(f"workflows: the rehearsal downloads by pattern, merged, not {given}")
        target = workspace / given["path"]
        target.mkdir(parents=True, exist_ok=True)
        for kept in sorted(self.artifacts.glob(given["pattern"])):
            for file in kept.iterdir():
                shutil.copy2(file, target / file.name)


def _text(value: Any) -> str:
    """An input's value as an expression gives it to a shell: booleans are true and false."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def rehearse_run(runner: Runner, repo: Path) -> None:
    """A headless grid merged and applied, then run by run.yml's runner jobs and reported."""
    (repo / "experiments" / f"{GRID}.yaml").write_text(GRID_MANIFEST)
    runner.workflow("apply.yml")
    spend_db = runner.secrets["BENCHCTL_LITELLM_DATABASE_URL"]
    logged = spend_logs(spend_db)

    def before_job(job_id: str) -> None:
        # A GitHub job starts tens of seconds after the last runner: LiteLLM has written the
        # runs' spend logs by then (at least one per session), as it has here once they show.
        if job_id == "report":
            wait_for_spend_logs(spend_db, at_least=logged + 2)

    summary = runner.github / "summary.md"
    summary.write_text("")
    runner.workflow("run.yml", RUN_INPUTS, before_job)
    attempts = []
    for entry in (1, 2):
        ran = json.loads((repo / "run-summaries" / f"runner-{entry}.json").read_text())
        attempts.extend(ran["attempts"])
    # Two runners at once shared the grid: each session ran once, and was scored.
    if sorted(a["label"] for a in attempts) != sorted({a["label"] for a in attempts}) or (
        [a["status"] for a in attempts] != ["scored", "scored"]
    ):
        sys.exit(f"workflows: run.yml's runners did not run each session once: {attempts}")
    reported = summary.read_text()
    if not re.search(rf"{GRID}: 2 sessions, [1-9]\d* requests", reported) or (
        "| 2 | " not in reported or not (repo / "artifacts" / GRID / "README.md").is_file()
    ):
        sys.exit(f"workflows: run.yml's report job did not report the grid:\n{reported}")
    if list((repo / ".benchctl" / "sessions").glob("*.env")):
        sys.exit("workflows: run.yml's cleanup step left session env files (raw keys) behind")


def _calls_benchctl(script: str) -> bool:
    return any(line.strip().startswith("benchctl ") for line in script.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--venvs", type=Path, required=True)
    parser.add_argument("--stack-python", required=True)
    args = parser.parse_args()
    repo = args.repo.resolve()
    stack = [args.stack_python, "-m", "benchctl"]
    ports = ["--proxy-port", str(free_port()), "--prometheus-port", str(free_port())]
    sh([*stack, "up", *ports, "--sim-port", str(free_port()), "--sim-speed", "20"], cwd=repo)
    try:
        runner = Runner(repo, args.venvs.resolve(), stack_secrets(repo))
        runner.workflow("validate.yml")
        # A shared state is set up once (docs/gitops.md); plan's read-only role cannot migrate.
        sh([*stack, "db", "upgrade"], cwd=repo)
        sh([*stack, "session", "add", *SESSION], cwd=repo)  # the pull request's change
        runner.workflow("plan.yml")
        comment = (repo / "plan-comment.md").read_text()
        if "1 session to open" not in comment:
            sys.exit(f"workflows: the plan comment does not show the session:\n{comment}")
        runner.workflow("apply.yml")
        env_files = list((repo / ".benchctl" / "sessions").glob("*.env"))
        if env_files:
            sys.exit("workflows: apply's cleanup step left session env files (raw keys) behind")
        # The operator gets the session's key again, and works the session with a harness.
        listed = json.loads(sh([*stack, "session", "list", "--json"], cwd=repo))
        session = listed[0]["id"]
        sh([*stack, "session", "rotate", session], cwd=repo)
        # Exit 1 is a session that was not a full success: still traffic to collect.
        harness = (
            f'source .benchctl/sessions/{session}.env && "$1" -m benchctl.demo.harness;'
            " [ $? -le 1 ]"
        )
        sh(["bash", "-c", harness, "-", args.stack_python], cwd=repo)
        # LiteLLM writes spend logs in batches (up to ~6 s here): collect once they are there,
        # as the scheduled workflow would on its next run.
        wait_for_spend_logs(runner.secrets["BENCHCTL_LITELLM_DATABASE_URL"])
        collected = "\n".join(runner.workflow("collect.yml"))
        summary = (runner.github / "summary.md").read_text()
        # The session's traffic went through the proxy, was collected and reported.
        if not re.search(r"demo: 1 sessions, [1-9]\d* requests", summary):
            sys.exit(f"workflows: the demo report lacks the session:\n{collected}\n{summary}")
        rehearse_run(runner, repo)
        print("workflows: every workflow's benchctl steps ran as on GitHub.", file=sys.stderr)
    finally:
        sh([*stack, "down"], cwd=repo)


if __name__ == "__main__":
    main()
