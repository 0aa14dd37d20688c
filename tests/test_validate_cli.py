"""`benchctl validate` through the real command: formats, paths, exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from minirepo import FILES, write_minirepo

BAD_VARIANT = FILES["variants/fast.yaml"].replace("model: sim-fast", "model: sim-fsat")


def test_valid_repository_exits_zero(run_cli, tmp_path: Path):
    write_minirepo(tmp_path)
    result = run_cli("validate", "--root", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "5 manifest file(s) valid" in result.output
    assert "1 Provider" in result.output


def test_error_is_located_with_code_and_hint(run_cli, tmp_path: Path):
    write_minirepo(tmp_path, variants__fast=BAD_VARIANT)
    result = run_cli("validate", "--root", str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    path = tmp_path / "variants" / "fast.yaml"
    assert lines[0] == (f"{path}:6:10: BC303 provider 'sim' does not offer model 'sim-fsat'")
    assert lines[1].strip() == "hint: did you mean 'sim-fast'?"
    assert lines[-1] == "1 error in 1 of 5 files."


def test_all_errors_reported_at_once(run_cli, tmp_path: Path):
    write_minirepo(
        tmp_path,
        variants__fast=BAD_VARIANT,
        task_cards__hello=FILES["task_cards/hello.yaml"].replace("10m", "ten minutes"),
        experiments__exp=FILES["experiments/exp.yaml"].replace("baseline: fast", "baseline: b"),
    )
    result = run_cli("validate", "--root", str(tmp_path), "--format", "json")
    assert result.exit_code == 1
    payload = json.loads(result.output)
    assert payload["format_version"] == 1
    assert payload["ok"] is False
    assert payload["files_checked"] == 5
    codes = sorted(d["code"] for d in payload["diagnostics"])
    assert codes == ["BC208", "BC303", "BC306"]
    for d in payload["diagnostics"]:
        assert d["line"] > 0 and d["col"] > 0 and d["hint"] and d["title"]


def test_json_when_valid(run_cli, tmp_path: Path):
    write_minirepo(tmp_path)
    payload = json.loads(run_cli("validate", "--root", str(tmp_path), "--format", "json").output)
    assert payload == {"format_version": 1, "ok": True, "files_checked": 5, "diagnostics": []}


def test_github_annotations_under_actions(run_cli, tmp_path: Path):
    write_minirepo(tmp_path, variants__fast=BAD_VARIANT)
    result = run_cli("validate", "--root", str(tmp_path), env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    first = result.output.splitlines()[0]
    match = re.fullmatch(r"::error file=([^,]+),line=6,col=10,title=BC303 ([^:]+)::(.+)", first)
    assert match, first
    assert match.group(1).endswith("fast.yaml")
    assert "sim-fsat" in match.group(3)


def test_paths_report_only_those_files_but_resolve_repo_wide(run_cli, tmp_path: Path):
    write_minirepo(
        tmp_path,
        variants__fast=BAD_VARIANT,
        task_cards__hello=FILES["task_cards/hello.yaml"].replace("10m", "never"),
    )
    variant = tmp_path / "variants" / "fast.yaml"
    result = run_cli("validate", "--root", str(tmp_path), str(variant), "--format", "json")
    payload = json.loads(result.output)
    assert payload["files_checked"] == 1
    assert [d["code"] for d in payload["diagnostics"]] == ["BC303"]

    experiment = tmp_path / "experiments" / "exp.yaml"
    result = run_cli("validate", "--root", str(tmp_path), str(experiment))
    assert result.exit_code == 0, result.output


def test_reference_needs_the_repository(run_cli, tmp_path: Path):
    write_minirepo(tmp_path, providers__sim=None)
    result = run_cli("validate", "--root", str(tmp_path), "--format", "json")
    diagnostics = json.loads(result.output)["diagnostics"]
    assert [(d["code"], d["line"], d["col"]) for d in diagnostics] == [("BC300", 5, 13)]
    assert "Provider 'sim' does not exist" in diagnostics[0]["message"]


def test_missing_path_is_a_usage_error(run_cli, tmp_path: Path):
    result = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2
    assert "does not exist" in result.output
    assert "Traceback" not in result.output


def test_empty_root_is_a_usage_error(run_cli, tmp_path: Path):
    result = run_cli("validate", "--root", str(tmp_path))
    assert result.exit_code == 2
    assert "no manifests found" in result.output
    assert "providers/" in result.output


def test_version(run_cli):
    result = run_cli("--version")
    assert result.exit_code == 0
    assert re.fullmatch(r"benchctl \d+\.\d+\.\d+\n", result.output)


def test_warning_does_not_fail(run_cli, tmp_path: Path):
    short_ttl = FILES["experiments/exp.yaml"] + "  session_policy: {ttl: 5m}\n"
    write_minirepo(tmp_path, experiments__exp=short_ttl)
    result = run_cli("validate", "--root", str(tmp_path), "--format", "json")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload["ok"] is True
    [warning] = payload["diagnostics"]
    assert (warning["code"], warning["severity"], warning["line"]) == ("BC313", "warning", 8)
    text = run_cli("validate", "--root", str(tmp_path)).output
    assert text.rstrip().endswith(
        "valid (1 Provider, 1 HarnessProfile, 1 TaskCard, 1 Variant, 1 Experiment), 1 warning."
    )


def test_infinite_numbers_are_refused(run_cli, tmp_path: Path):
    unlimited = FILES["experiments/exp.yaml"] + "  session_policy: {budget_usd: .inf}\n"
    write_minirepo(tmp_path, experiments__exp=unlimited)
    payload = json.loads(run_cli("validate", "--root", str(tmp_path), "--format", "json").output)
    [d] = payload["diagnostics"]
    assert (d["code"], d["line"]) == ("BC205", 8)
    assert "finite" in d["message"]


def test_union_type_error_names_every_accepted_type(run_cli, tmp_path: Path):
    listed = FILES["variants/fast.yaml"] + "  harness_settings: {turns: [1, 2]}\n"
    write_minirepo(tmp_path, variants__fast=listed)
    payload = json.loads(run_cli("validate", "--root", str(tmp_path), "--format", "json").output)
    [d] = payload["diagnostics"]
    assert d["code"] == "BC204"
    assert d["message"] == (
        "`spec.harness_settings.turns`: expected a string, an integer, a number or true or false,"
        " got a list"
    )
