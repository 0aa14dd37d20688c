"""`benchctl task import`: a Harbor (Terminal-Bench 2) task folder becomes a task card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sandbox import require_bwrap

from benchctl.manifests.loader import load_valid_repository

from minirepo import write_minirepo

TASK_TOML = """\
version = "1.0"

[metadata]
author_name = "Someone"
difficulty = "hard"
category = "software-engineering"
tags = ["python", "Shell", "not a tag!"]

[verifier]
timeout_sec = 90.5

[agent]
timeout_sec = 1800.0

[environment]
build_timeout_sec = 600.0
"""
INSTRUCTION = "Make `python app.py` print 42.\n\nDo not touch anything else.\n"
DOCKERFILE = """\
FROM python:3.11-slim
WORKDIR /app
RUN pip install --no-cache-dir requests==2.32.3
COPY app.py /app/app.py
"""
TEST_SH = """\
#!/bin/bash
if [ "$(python app.py)" = "$(cat /tests/expected.txt)" ]; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
"""
HARBOR_FILES = {
    "task.toml": TASK_TOML,
    "instruction.md": INSTRUCTION,
    "environment/Dockerfile": DOCKERFILE,
    "environment/app.py": "print(41)\n",
    "tests/test.sh": TEST_SH,
    "tests/expected.txt": "42\n",
    "solution/solve.sh": "#!/bin/bash\nsed -i 's/41/42/' app.py\n",
}


def write_harbor(folder: Path, **overrides: str | None) -> Path:
    """A Harbor task folder; ``overrides`` maps a path (``/`` as ``__``, ``.`` as ``_``)."""
    files = dict(HARBOR_FILES)
    for key, text in overrides.items():
        rel = next(p for p in HARBOR_FILES if p.replace("/", "__").replace(".", "_") == key)
        if text is None:
            del files[rel]
        else:
            files[rel] = text
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_minirepo(tmp_path / "repo")


def test_import_maps_fields_and_validates(run_cli, tmp_path: Path, repo: Path):
    source = write_harbor(tmp_path / "harbor-task")
    result = run_cli("task", "import", str(source), "--root", str(repo), "--name", "x")
    assert result.exit_code == 0, result.output
    card_path = repo / "task_cards" / "x.yaml"
    assert f"Wrote {card_path}" in result.output
    assert "note: environment/Dockerfile is not run" in result.output
    assert "RUN pip install --no-cache-dir requests==2.32.3" in result.output
    assert "Next: benchctl validate" in result.output

    validated = run_cli("validate", "--root", str(repo))
    assert validated.exit_code == 0, validated.output
    assert "6 manifest file(s) valid" in validated.output

    spec = load_valid_repository(repo).task_cards["x"].model.spec
    assert spec.workspace == "tasks/x/environment"
    assert spec.repository is None
    assert spec.instructions == INSTRUCTION.strip() + "\n"
    assert spec.verify is not None
    assert spec.verify.run == "bash /tests/test.sh"
    assert spec.verify.tests == "tasks/x/tests"
    assert spec.verify.timeout == "91s"  # 90.5 seconds, rounded up
    assert spec.timebox == "1800s"
    assert spec.difficulty == "hard"
    assert spec.tags == ["python", "shell"]
    assert spec.oracle is not None and spec.oracle.script == "tasks/x/solution/solve.sh"
    assert spec.setup is None  # the Dockerfile is reported, not run
    # The files are copied unchanged.
    for rel, text in HARBOR_FILES.items():
        assert (repo / "tasks" / "x" / rel).read_text() == text


def test_imported_task_checks_sound(run_cli, tmp_path: Path, repo: Path):
    require_bwrap()  # Harbor's /tests and /logs/verifier exist only inside the sandbox
    source = write_harbor(tmp_path / "harbor-task")
    imported = run_cli("task", "import", str(source), "--root", str(repo), "--name", "x")
    assert imported.exit_code == 0, imported.output
    result = run_cli("task", "check", "x", "--root", str(repo), "--json", "--sandbox", "bwrap")
    payload = json.loads(result.stdout)
    assert result.exit_code == 0, payload
    assert payload["sandbox"] == "bwrap"
    (task,) = payload["tasks"]
    assert task["ok"] is True and task["problems"] == []
    assert task["untouched_reward"] == 0.0
    assert task["oracle_rewards"] == [1.0, 1.0, 1.0]
    # Checking never changes the imported files.
    assert (repo / "tasks/x/environment/app.py").read_text() == "print(41)\n"


def test_defaults_without_timeouts_or_solution(run_cli, tmp_path: Path, repo: Path):
    source = write_harbor(
        tmp_path / "Some_Task",
        task_toml='[metadata]\ndifficulty = "impossible"\n',
        solution__solve_sh=None,
        environment__Dockerfile=None,
    )
    result = run_cli("task", "import", str(source), "--root", str(repo))
    assert result.exit_code == 0, result.output
    assert "note: no solution/solve.sh" in result.output
    assert "Dockerfile" not in result.output
    spec = load_valid_repository(repo).task_cards["some-task"].model.spec
    assert spec.verify is not None and spec.verify.timeout == "10m"
    assert spec.timebox == "30m"
    assert spec.difficulty == "medium"
    assert spec.oracle is None
    assert spec.tags == []


def test_not_a_harbor_folder(run_cli, tmp_path: Path, repo: Path):
    source = write_harbor(tmp_path / "harbor-task", task_toml=None, tests__test_sh=None)
    result = run_cli("task", "import", str(source), "--root", str(repo), "--name", "x")
    assert result.exit_code == 2
    assert "is not a Harbor task folder: it lacks task.toml, tests/test.sh" in result.output
    assert "instruction.md" not in result.output.split("lacks", 1)[1]
    assert not (repo / "task_cards" / "x.yaml").exists()
    assert not (repo / "tasks" / "x").exists()


@pytest.mark.parametrize("existing", ["card", "folder"])
def test_existing_name_is_refused(run_cli, tmp_path: Path, repo: Path, existing: str):
    source = write_harbor(tmp_path / "harbor-task")
    if existing == "card":
        name = "hello"  # minirepo's own task card
        before = (repo / "task_cards" / "hello.yaml").read_text()
    else:
        name = "x"
        (repo / "tasks" / "x").mkdir(parents=True)
        before = None
    result = run_cli("task", "import", str(source), "--root", str(repo), "--name", name)
    assert result.exit_code == 2
    assert "exists already; pass another --name" in result.output
    if before is not None:
        assert (repo / "task_cards" / "hello.yaml").read_text() == before
        assert not (repo / "tasks" / "hello").exists()
    else:
        assert not (repo / "task_cards" / "x.yaml").exists()


def test_importing_twice_is_refused(run_cli, tmp_path: Path, repo: Path):
    source = write_harbor(tmp_path / "harbor-task")
    first = run_cli("task", "import", str(source), "--root", str(repo), "--name", "x")
    assert first.exit_code == 0, first.output
    card = (repo / "task_cards" / "x.yaml").read_text()
    again = run_cli("task", "import", str(source), "--root", str(repo), "--name", "x")
    assert again.exit_code == 2
    assert "exists already" in again.output
    assert (repo / "task_cards" / "x.yaml").read_text() == card


def test_invalid_toml(run_cli, tmp_path: Path, repo: Path):
    source = write_harbor(tmp_path / "harbor-task", task_toml="[metadata\ndifficulty = hard\n")
    result = run_cli("task", "import", str(source), "--root", str(repo), "--name", "x")
    assert result.exit_code == 2
    assert "task.toml is not valid TOML" in result.output
    assert not (repo / "task_cards" / "x.yaml").exists()
    assert not (repo / "tasks" / "x").exists()


def test_invalid_name(run_cli, tmp_path: Path, repo: Path):
    source = write_harbor(tmp_path / "harbor-task")
    result = run_cli("task", "import", str(source), "--root", str(repo), "--name", "Bad Name")
    assert result.exit_code == 2
    assert "is not a valid task card name" in result.output
