"""Rehearse the GitHub workflows' benchctl steps on this machine, as a runner would run them.

Each workflow's own install step runs in a fresh venv (one per distinct install command), and
in every job that calls benchctl, each `run:` step but those that talk to GitHub (`git push`,
`gh`) runs in bash with that venv first on PATH and the step's `env:`, its secrets pointing at
a local stack (`benchctl up`, started with the proxy extra from
another venv). The loop a pull request meets: validate, an operator's session entry, plan (the
PR comment), apply (opens the session), the session's harness makes traffic, collect, report.

    python .ci/workflows.py --repo CLONE --venvs DIR --stack-python PYTHON
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ORDER = ("validate.yml", "plan.yml", "apply.yml", "collect.yml")
EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")
# What a session entry of a pull request asks for: the simulated provider, so traffic is free.
SESSION = ("demo", "sdk-sim-fast", "fix-median")


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


def wait_for_spend_logs(database_url: str, timeout: float = 60.0) -> None:
    import psycopg  # the stack's venv has it; this script runs there

    deadline = time.monotonic() + timeout
    while True:
        with psycopg.connect(database_url) as conn:
            row = conn.execute('SELECT count(*) FROM "LiteLLM_SpendLogs"').fetchone()
        if row and row[0] > 0:
            return
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


def substitute(value: Any, secrets: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("secrets."):
            return secrets.get(expression.removeprefix("secrets."), "")
        return "ci-rehearsal"  # github.actor, run ids, SHAs: any stable word will do

    return EXPRESSION.sub(one, str(value))


class Runner:
    def __init__(self, repo: Path, venvs: Path, secrets: dict[str, str]) -> None:
        self.repo = repo
        self.venvs = venvs
        self.secrets = secrets
        self.installed: dict[str, Path] = {}
        self.github = venvs / "github"
        self.github.mkdir(exist_ok=True)

    def venv_for(self, install: str) -> Path:
        """A fresh venv per distinct install command, installed by exactly that command."""
        if install not in self.installed:
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
            self.installed[install] = venv
        return self.installed[install]

    def bash(self, script: str, venv: Path, step_env: dict[str, Any]) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHCTL_")}
        env.pop("CI", None)
        env.update(
            PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
            VIRTUAL_ENV=str(venv),
            GITHUB_ACTIONS="true",
            GITHUB_RUN_ID="1",
            GITHUB_STEP_SUMMARY=str(self.github / "summary.md"),
            GITHUB_OUTPUT=str(self.github / "output"),
        )
        env.update({name: substitute(value, self.secrets) for name, value in step_env.items()})
        # GitHub's `run:` shell.
        shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script]
        return sh(shell, cwd=self.repo, env=env)

    def workflow(self, name: str) -> list[str]:
        """Run the benchctl steps of every job of ``name``; their outputs."""
        document = yaml.safe_load((self.repo / ".github" / "workflows" / name).read_text())
        outputs = []
        for job in document["jobs"].values():
            scripts = [step.get("run", "") for step in job["steps"]]
            if not any(_calls_benchctl(script) for script in scripts):
                continue  # e.g. the job that runs .ci/run itself
            venv = None
            for step, script in zip(job["steps"], scripts, strict=True):
                if not script or "git push" in script or "gh " in script:
                    continue
                if "pip install" in script:
                    venv = self.venv_for(script)
                    continue
                if venv is None:
                    sys.exit(f"workflows: {name} runs a step before installing benchctl")
                outputs.append(self.bash(script, venv, step.get("env", {})))
        return outputs


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
        print("workflows: validate, plan, apply and collect ran as on GitHub.", file=sys.stderr)
    finally:
        sh([*stack, "down"], cwd=repo)


if __name__ == "__main__":
    main()
