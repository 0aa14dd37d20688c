"""`session add` edits an experiment only when the result is valid; nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest


def _add(run_cli, repo: Path, *args: str):
    return run_cli("session", "add", *args, "--root", str(repo))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("demo", "sdk-sim-fast", "httpx-retry-transport"),
            "'httpx-retry-transport' is not in the experiment's spec.task_cards",
        ),
        (
            ("demo", "claude-code-sonnet-4-5", "fix-median"),
            "'claude-code-sonnet-4-5' is not in the experiment's spec.variants",
        ),
        (("nope", "sdk-sim-fast", "fix-median"), "no experiment named 'nope'"),
    ],
)
def test_refused_add_leaves_the_file_alone(run_cli, example_repo: Path, args, message: str):
    before = {p: p.read_bytes() for p in (example_repo / "experiments").iterdir()}
    result = _add(run_cli, example_repo, *args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert {p: p.read_bytes() for p in (example_repo / "experiments").iterdir()} == before


def test_add_that_would_break_another_rule_is_refused_with_its_location(
    run_cli, example_repo: Path
):
    # Replicates above the experiment's count are invalid (checked by validation, not by add).
    path = example_repo / "experiments" / "demo.yaml"
    before = path.read_bytes()
    result = _add(
        run_cli,
        example_repo,
        "demo",
        "sdk-sim-fast",
        "fix-median",
        "--replicate",
        "99",
    )
    assert result.exit_code == 2, result.output
    assert "demo.yaml is unchanged: the edit would leave the manifests invalid" in result.output
    assert f"{path}:" in result.output
    assert path.read_bytes() == before


def test_add_writes_a_valid_entry(run_cli, example_repo: Path):
    result = _add(run_cli, example_repo, "demo", "sdk-sim-fast", "fix-median")
    assert result.exit_code == 0, result.output
    text = (example_repo / "experiments" / "demo.yaml").read_text()
    assert "- variant: sdk-sim-fast\n      task_card: fix-median" in text
    assert run_cli("validate", "--root", str(example_repo)).exit_code == 0
    assert not list((example_repo / "experiments").glob(".*"))


def test_the_scratch_copy_never_follows_what_the_loader_ignores(run_cli, example_repo: Path):
    """A subfolder symlink to an endless device is not the loader's: the copy skips it too."""
    (example_repo / "variants" / "sub").mkdir()
    (example_repo / "variants" / "sub" / "zero.yaml").symlink_to("/dev/zero")
    (example_repo / "variants" / "sub" / "elsewhere").symlink_to("/usr")
    result = _add(run_cli, example_repo, "demo", "sdk-sim-fast", "fix-median")
    assert result.exit_code == 0, result.output
