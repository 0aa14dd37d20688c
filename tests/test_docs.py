"""Docs match behaviour: CLI reference, generated manifest tables, examples, README commands."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import typer.core
import typer.main

from benchctl.cli.app import app
from benchctl.manifests.loader import load_repository
from benchctl.manifests.reference import fill_blocks, generated_blocks

from conftest import REPO_ROOT

CLI_DOC = (REPO_ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
MANIFESTS_DOC = (REPO_ROOT / "docs" / "manifests.md").read_text(encoding="utf-8")


def _commands() -> dict:
    """Every command by its full name: `plan`, and `session list` for subcommands."""
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    found = {}
    for name, command in group.commands.items():
        if isinstance(command, typer.core.TyperGroup):
            found.update({f"{name} {sub}": cmd for sub, cmd in command.commands.items()})
        else:
            found[name] = command
    return found


def test_every_command_is_documented():
    for name in _commands():
        assert f"## `benchctl {name}`" in CLI_DOC, f"docs/cli.md lacks a section for {name}"


def test_every_documented_command_exists():
    documented = set(re.findall(r"^## `benchctl ([a-z-]+(?: [a-z-]+)*)`", CLI_DOC, re.M))
    assert documented == set(_commands())


def test_every_option_is_documented():
    for name, command in _commands().items():
        section = CLI_DOC.split(f"## `benchctl {name}`", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            if isinstance(param, typer.core.TyperOption):
                for opt in param.opts:
                    assert f"`{opt}" in section, f"benchctl {name}: option {opt} undocumented"
            else:
                assert (param.name or "").upper() in section


def test_manifest_reference_tables_are_current():
    assert fill_blocks(MANIFESTS_DOC, generated_blocks()) == MANIFESTS_DOC, (
        "run `python scripts/gen_docs.py` and commit docs/manifests.md"
    )


def test_manifest_doc_examples_validate(tmp_path: Path):
    blocks = re.findall(r"```yaml\n# file: (\S+)\n(.*?)```", MANIFESTS_DOC, re.S)
    assert len(blocks) >= 6
    for rel, body in blocks:
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    result = load_repository(tmp_path)
    assert result.diagnostics == []
    assert result.repository.count() == len(blocks)


def test_every_error_code_is_in_the_reference():
    from benchctl.manifests.diagnostics import CODES

    for code in CODES:
        assert f"`{code}`" in MANIFESTS_DOC


def _readme_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S)
    assert first_block is not None
    assert readme.index("```bash") < readme.index("\n## "), "README must open with the commands"
    return [line for line in first_block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    assert "benchctl" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_both_readme_commands_verbatim():
    ci = [line.strip() for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()]
    for command in _readme_commands():
        assert command in ci, command


def test_readme_commands_install_from_the_locks():
    for command, profile in zip(_readme_commands(), ("proxy", "dev"), strict=True):
        assert command.startswith(f"pip install -r requirements/{profile}.txt && pip install")
        assert (REPO_ROOT / "requirements" / f"{profile}.txt").is_file()


def test_readme_never_points_outside_the_repository():
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in readme
    assert "litellm-offline" not in readme


def test_docs_links_resolve():
    for doc in [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if target.startswith("../shared"):
                continue  # lives beside the repository, not in it
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"


def test_pre_commit_configs_are_valid():
    for args in (
        ["validate-config", ".pre-commit-config.yaml"],
        ["validate-manifest", ".pre-commit-hooks.yaml"],
    ):
        subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=REPO_ROOT, check=True)


def test_readme_shows_the_real_validate_summary():
    from benchctl.render.diagnostics import summary_line

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert summary_line(load_repository(REPO_ROOT)) in readme
