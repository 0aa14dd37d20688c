"""The committed JSON Schemas, run as an independent second check over the bad-input corpus.

For every file of every case that PyYAML can load: when benchctl expects a problem the schema
can see, ``jsonschema`` must reject the file too; when benchctl expects only problems the schema
cannot see (or none: the objects a case refers to), ``jsonschema`` must accept it. A
disagreement means the models and the generated schemas drifted apart.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from test_bad_corpus import CASES, CORPUS, read_expected

from benchctl.manifests.diagnostics import CODES
from benchctl.manifests.models import FOLDER_KIND, KINDS
from benchctl.manifests.schemas import schema_filename

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

# Codes only `benchctl validate` can check, each with the reason the schema cannot.
BENCHCTL_ONLY: dict[str, str] = {
    "BC100": "file level: an unreadable file never becomes a JSON document",
    "BC101": "file level: the size limit applies before parsing",
    "BC102": "file level: binary content is refused before parsing",
    "BC103": "file level: bytes that are not UTF-8 are refused before parsing",
    "BC104": "YAML level: text that is not YAML never becomes a JSON document",
    "BC105": "YAML level: tabs are a property of the text, not of the data",
    "BC106": "YAML level: PyYAML silently keeps the last duplicate key, the data hides it",
    "BC107": "YAML level: alias expansion happens before there is any data",
    "BC108": "YAML level: a JSON document cannot hold two YAML documents",
    "BC109": "YAML level: an empty file is not a document",
    "BC110": "YAML level: refused before the kind (hence the schema) is known",
    "BC111": "YAML level: JSON object keys are strings; a complex YAML key has no JSON form",
    "BC112": "YAML level: tags are a property of the YAML text, not of the data",
    "BC113": "YAML level: the depth limit applies while building the data",
    "BC114": "file level: what kind of file it is, and where it leads, is not data",
    "BC206": "placement: the schema does not see the file name",
    "BC207": "placement: the schema does not see the folder",
    "BC210": "cross-field rule (outcome vs status); docs/manifests.md lists it as benchctl-only",
    "BC211": "policy: which env var names hold credentials is not a structural rule",
    "BC212": "policy: which env var names take over a shell is not a structural rule",
    "BC213": "a duration's length: the schema checks its pattern, not its sum",
    "BC214": "policy: which LiteLLM params route a call is not a structural rule",
    "BC215": "policy: which hosts are link-local is beyond a pattern",
    "BC300": "reference: needs the other manifests of the repository",
    "BC301": "reference: uniqueness across files",
    "BC302": "ambiguity: names compared ignoring case and separators, across keys or files",
    "BC303": "reference: needs the provider's models",
    "BC304": "reference: needs the harness profile's declared settings",
    "BC305": "reference: needs the harness profile's setting types and enums",
    "BC306": "cross-list rule: baseline must be one of spec.variants",
    "BC307": "cross-list rule: a session's variant must be one of spec.variants",
    "BC308": "cross-list rule: a session's task card must be one of spec.task_cards",
    "BC309": "cross-field rule: a session's replicate compared with spec.replicates",
    "BC310": "uniqueness of (variant, task card, replicate) across list items",
    "BC311": "uniqueness of names within a list (uniqueItems is not in the schema)",
    "BC312": "reference: needs the harness profile's required settings",
    "BC313": "reference: compares the experiment's ttl with its task cards' timeboxes",
    "BC314": "files: whether a task card's folders exist in the repository is beyond JSON Schema",
    "BC315": "cross-field rule: verify.tests compared with the workspace path",
    "BC400": "secrets: a pattern search over every string value, not a structural rule",
    "BC500": "templates: compiling Jinja2 is beyond JSON Schema",
    "BC501": "templates: rendering against the template variables is beyond JSON Schema",
    "BC503": "templates: rendering within a budget is beyond JSON Schema",
    "BC504": "templates: what a template reads is beyond JSON Schema",
    "BC505": "templates: what a template renders is beyond JSON Schema",
}
# Codes the schema expresses: a file benchctl rejects with one of these, the schema rejects too.
SCHEMA_VISIBLE = {"BC200", "BC201", "BC202", "BC203", "BC204", "BC205", "BC208", "BC209"}

# BC205 cases from cross-field rules that docs/manifests.md documents as benchctl-only.
BENCHCTL_ONLY_CASES = {
    "047-provider-p95-below-median": "a distribution's p95 below its median",
    "048-provider-simulate-without-simulator": "`simulate` vs `simulator`",
    "049-provider-simulator-without-simulate": "`simulate` vs `simulator`",
    "063-profile-setting-default-wrong-type": "a setting's default of the wrong type",
    "051-provider-float-context-window": "JSON Schema's integer admits 128000.0",
    "097-experiment-bad-redaction-regex": "redaction patterns must compile",
}

# Disagreements that are not documented as deliberate: the model rejects what the schema
# accepts. Strict, so fixing the schema (or documenting the rule and moving the case to
# BENCHCTL_ONLY_CASES) turns the case into a failure that asks for this entry to go.
SCHEMA_GAPS: dict[str, str] = {}

# The file and YAML level codes: such a file never reaches the schema stage in benchctl, so
# what jsonschema thinks of whatever PyYAML makes of it is not a comparison.
PARSE_LEVEL = {code for code in BENCHCTL_ONLY if code.startswith("BC1")}


@cache
def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / schema_filename(kind)).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_kind(data: dict[str, Any], rel: Path) -> str:
    """The declared kind when benchctl knows it, else the kind of the file's folder."""
    declared = data.get("kind")
    return (
        declared if isinstance(declared, str) and declared in KINDS else FOLDER_KIND[rel.parts[0]]
    )


def test_codes_are_classified():
    assert set(BENCHCTL_ONLY) | SCHEMA_VISIBLE == set(CODES)
    assert not set(BENCHCTL_ONLY) & SCHEMA_VISIBLE
    assert all(reason.strip() for reason in BENCHCTL_ONLY.values())
    assert {c for c in BENCHCTL_ONLY if c.startswith("BC2")} == {
        *("BC206", "BC207", "BC210", "BC211", "BC212", "BC213", "BC214", "BC215")
    }
    assert (set(BENCHCTL_ONLY_CASES) | set(SCHEMA_GAPS)) <= set(CASES)


@pytest.mark.parametrize("kind", list(KINDS))
def test_committed_schemas_are_valid_draft_2020_12(kind: str):
    validator(kind)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=SCHEMA_GAPS[case]))
        if case in SCHEMA_GAPS
        else case
        for case in CASES
    ],
)
def test_schema_agrees_with_benchctl(case: str):
    folder = CORPUS / case
    expected: dict[str, set[str]] = {}
    for e in read_expected(case):
        expected.setdefault(e.path, set()).add(e.code)
    compared = 0
    for path in sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml"}
    ):
        rel = path.relative_to(folder)
        codes = expected.get(rel.as_posix(), set())
        if codes & PARSE_LEVEL:
            continue
        try:
            data = yaml.safe_load(path.read_bytes())
        except yaml.YAMLError:
            continue
        assert isinstance(data, dict), f"{rel}: PyYAML made a {type(data).__name__}"
        kind = schema_kind(data, rel)
        errors = [
            f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
            for e in validator(kind).iter_errors(data)
        ]
        visible = codes & SCHEMA_VISIBLE and case not in BENCHCTL_ONLY_CASES
        if visible:
            assert errors, (
                f"benchctl reports {sorted(codes)} on {rel}; the {kind} schema accepts it"
            )
        else:
            assert not errors, (
                f"the {kind} schema rejects {rel}, where benchctl expects only"
                f" {sorted(codes) or 'nothing'}: {errors}"
            )
        compared += 1
    parse_level_only = all(codes & PARSE_LEVEL for codes in expected.values())
    assert compared or parse_level_only, "no file of the case was compared"
