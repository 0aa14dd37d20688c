"""The simulator doing real work: a model with a solve rate edits a harness's workspace with the
task's oracle solution, or a plausible wrong change, in the form the request asks for — and the
task's verifier scores what was written. The SDK script harness against the simulator directly
(tests/test_run.py and tests/test_aider.py go through the real proxy)."""

from __future__ import annotations

import json
import re
import shutil

import httpx
import pytest

from benchctl.demo.harness import run_session
from benchctl.manifests.loader import load_repository
from benchctl.manifests.models.provider import Provider
from benchctl.sim.server import SimServer
from benchctl.sim.work import MARK, load_solutions
from benchctl.tasks.verify import verify
from benchctl.tasks.workspace import Task

from conftest import REPO_ROOT

REPOSITORY = load_repository(REPO_ROOT).repository
SOLUTIONS, PROBLEMS = load_solutions(REPO_ROOT)
TASKS = ["fix-median", "slugify-tests", "wordfreq-shell"]


def provider(solve_rate: float | None) -> Provider:
    """The repository's simulated provider, every model at ``solve_rate`` and without errors."""
    base = REPOSITORY.providers["sim"].model
    models = {}
    for name, model in base.spec.models.items():
        assert model.simulate is not None
        simulate = model.simulate.model_copy(
            update={
                "solve_rate": solve_rate,
                "errors": model.simulate.errors.model_copy(update={"rate": 0.0}),
            }
        )
        models[name] = model.model_copy(update={"simulate": simulate})
    return base.model_copy(update={"spec": base.spec.model_copy(update={"models": models})})


def test_every_example_task_with_an_oracle_has_a_solution():
    assert PROBLEMS == []
    assert sorted(s.task for s in SOLUTIONS) == TASKS
    fix = next(s for s in SOLUTIONS if s.task == "fix-median")
    assert list(fix.after) == ["stats_utils/__init__.py"]
    assert fix.before["stats_utils/__init__.py"] != fix.after["stats_utils/__init__.py"]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize(("rate", "reward"), [(1.0, 1.0), (0.0, 0.0)])
def test_the_verifier_scores_what_the_simulated_model_wrote(task, rate, reward, tmp_path):
    card = REPOSITORY.task_cards[task].model
    workspace = shutil.copytree(REPO_ROOT / str(card.spec.workspace), tmp_path / "workspace")
    with SimServer(provider(rate), speed=1e6, solutions=SOLUTIONS) as sim:
        env = {
            "OPENAI_BASE_URL": sim.url, "OPENAI_API_KEY": "sk-sim", "BENCHCTL_MODEL": "sim-fast",
            "BENCHCTL_MAX_TURNS": "4", "TASK_PROMPT": card.spec.instructions,
            "BENCHCTL_TRIAL": f"{task}#{rate}",
        }  # fmt: skip
        run = run_session(env, workspace)
    assert run.finished and run.requests == 2 and run.written, run
    found = verify(Task(card, REPO_ROOT), workspace, sandbox=False)
    assert found.status == "scored", found.error
    assert found.reward == reward


def test_a_model_without_a_solve_rate_only_talks(tmp_path):
    card = REPOSITORY.task_cards["fix-median"].model
    workspace = shutil.copytree(REPO_ROOT / str(card.spec.workspace), tmp_path / "workspace")
    with SimServer(provider(None), speed=1e6, solutions=SOLUTIONS) as sim:
        env = {
            "OPENAI_BASE_URL": sim.url, "OPENAI_API_KEY": "sk-sim", "BENCHCTL_MODEL": "sim-fast",
            "TASK_PROMPT": card.spec.instructions, "BENCHCTL_MAX_TURNS": "3",
        }  # fmt: skip
        run = run_session(env, workspace)
    assert run.finished and run.requests == 1 and run.written == []


def _chat(sim: SimServer, system: str, task: str) -> str:
    body = {
        "model": "sim-balanced",
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": REPOSITORY.task_cards[task].model.spec.instructions},
        ],
    }
    reply = httpx.post(f"{sim.url}/chat/completions", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["choices"][0]["message"]["content"])


def test_text_edit_formats_follow_the_phrase_the_prompt_uses():
    """Aider's two formats, recognised by the phrases the provider manifest declares."""
    solution = next(s for s in SOLUTIONS if s.task == "wordfreq-shell")
    with SimServer(provider(1.0), speed=1e6, solutions=SOLUTIONS) as sim:
        blocks = _chat(sim, "Describe each change with a *SEARCH/REPLACE block*.", "wordfreq-shell")
        whole = _chat(sim, "You MUST use this *file listing* format:", "wordfreq-shell")
    found = re.search(
        r"^wordfreq\.sh\n```\n<<<<<<< SEARCH\n(.*?)=======\n(.*?)>>>>>>> REPLACE\n```$",
        blocks, re.S | re.M,
    )  # fmt: skip
    assert found, blocks
    assert found.group(1) == solution.before["wordfreq.sh"]
    assert found.group(2) == solution.after["wordfreq.sh"]
    listed = re.search(r"^wordfreq\.sh\n```\n(.*?)```$", whole, re.S | re.M)
    assert listed and listed.group(1) == solution.after["wordfreq.sh"], whole


def test_the_responses_protocol_carries_the_edit_as_function_calls():
    """What LiteLLM sends for Anthropic-protocol clients on an openai/ route."""
    body = {
        "model": "sim-fast",
        "input": [
            {"role": "user", "content": REPOSITORY.task_cards["fix-median"].model.spec.instructions}
        ],
        "tools": [{"type": "function", "name": "write_file", "parameters": {"type": "object"}}],
    }
    with SimServer(provider(1.0), speed=1e6, solutions=SOLUTIONS) as sim:
        whole = httpx.post(f"{sim.url}/responses", json=body, timeout=30).json()
        streamed = httpx.post(f"{sim.url}/responses", json={**body, "stream": True}, timeout=30)
        again = {
            **body,
            "input": [
                *body["input"],
                {
                    "type": "function_call_output",
                    "call_id": whole["output"][0]["call_id"],
                    "output": "ok",
                },
            ],
        }
        after = httpx.post(f"{sim.url}/responses", json=again, timeout=30).json()
    [call] = whole["output"]
    assert call["type"] == "function_call" and call["name"] == "write_file"
    arguments = json.loads(call["arguments"])
    assert arguments["path"] == "stats_utils/__init__.py" and "def median" in arguments["content"]
    assert MARK in call["call_id"]
    done = [
        json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: ")
    ]
    assert [e["type"] for e in done if "function_call" in e["type"]] == [
        "response.function_call_arguments.delta", "response.function_call_arguments.done"
    ]  # fmt: skip
    # Another occurrence of the same prompt (its own ids), the same edit.
    assert [(o["name"], o["arguments"]) for o in done[-1]["response"]["output"]] == [
        (call["name"], call["arguments"])
    ]
    # With its own edit in the conversation, the model answers in words: the turn ends.
    assert after["output"][0]["type"] == "message"


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:9/",
        "http://localhost:4873",
        "http://[::1]:9/registry/",
    ],
)
def test_npm_registry_may_point_at_loopback(value):
    from benchctl.manifests.reserved import hijacking

    assert hijacking("NPM_CONFIG_REGISTRY", value) is None
    assert hijacking("npm_config_registry", value) is None


@pytest.mark.parametrize(
    "value",
    [
        "https://registry.npmjs.org/",
        "http://127.0.0.1.evil.example/",
        "http://localhost@evil.example/",
        "http://127.0.0.1:9/ https://evil.example/",
        "{{ proxy.url }}",
        "file:///etc/passwd",
    ],
)
def test_npm_registry_anywhere_else_is_refused(value):
    """A pull request pointing a harness's installs at its own registry is stopped at validate."""
    from benchctl.manifests.reserved import hijacking

    assert "loopback address only" in (hijacking("NPM_CONFIG_REGISTRY", value) or "")
    # Every other npm setting stays refused whatever its value.
    assert hijacking("NPM_CONFIG_SCRIPT_SHELL", "http://127.0.0.1:9/") is not None


@pytest.mark.parametrize("path", ["../outside.txt", "/tmp/abs.txt", "a/../../b", ""])
def test_the_sdk_harness_writes_only_inside_its_workspace(tmp_path, path):
    """A model, or a task prompt steering it, asking to write outside is refused and told."""
    from benchctl.demo.harness import Call, SessionRun, _write

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    run = SessionRun()
    said = _write(workspace, Call("c1", path, "x"), run)
    assert said.startswith("refused:") and run.written == []
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["workspace"]
