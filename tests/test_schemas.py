"""The committed JSON Schemas are generated from the models and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from benchctl.manifests.models import KINDS
from benchctl.manifests.schemas import render_schemas, schema_filename, stale_schemas

from conftest import REPO_ROOT


def test_committed_schemas_match_models():
    assert stale_schemas(REPO_ROOT / "schemas") == [], "run `benchctl schemas` and commit"


def test_schemas_are_valid_draft_2020_12():
    for content in render_schemas().values():
        jsonschema.Draft202012Validator.check_schema(json.loads(content))


def test_schema_file_names():
    assert schema_filename("HarnessProfile") == "harness-profile.schema.json"
    assert set(render_schemas()) == {schema_filename(kind) for kind in KINDS}


def test_check_flags_a_stale_schema_and_write_fixes_it(run_cli, tmp_path: Path):
    out = tmp_path / "schemas"
    result = run_cli("schemas", "--out", str(out), "--check")
    assert result.exit_code == 1
    assert "provider.schema.json is out of date" in result.output

    assert run_cli("schemas", "--out", str(out)).exit_code == 0
    assert run_cli("schemas", "--out", str(out), "--check").exit_code == 0

    (out / "variant.schema.json").write_text("{}", encoding="utf-8")
    result = run_cli("schemas", "--out", str(out), "--check")
    assert result.exit_code == 1
    assert "variant.schema.json" in result.output
    assert "provider.schema.json" not in result.output

    result = run_cli("schemas", "--out", str(out))
    assert "wrote" in result.output and "variant.schema.json" in result.output
    assert stale_schemas(out) == []


def test_pattern_keyed_maps_reject_other_keys():
    schema = json.loads(render_schemas()["harness-profile.schema.json"])
    env = schema["$defs"]["HarnessProfileSpec"]["properties"]["env"]
    assert env["additionalProperties"] is False
