"""Diagnostics: one problem found in a manifest, with a stable code, a location and a hint.

Codes are stable: scripts and docs rely on them. Add new codes, never renumber old ones.
``docs/manifests.md`` lists every code (a test keeps the two in sync).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]

# code -> (title, default hint). The title names the class of problem; each diagnostic's
# message says what exactly is wrong in that file.
CODES: dict[str, tuple[str, str]] = {
    # file and YAML level
    "BC100": ("file cannot be read", "check that the path is a readable regular file"),
    "BC101": ("file too large", "a manifest holds one small object; split or trim the file"),
    "BC102": ("binary file", "manifests are UTF-8 text; remove the file or replace it with YAML"),
    "BC103": ("not valid UTF-8", "save the file as UTF-8"),
    "BC104": ("YAML syntax error", "fix the YAML at the position shown"),
    "BC105": (
        "tab used for indentation",
        "YAML indents with spaces only; replace tabs with spaces",
    ),
    "BC106": ("duplicate key", "remove one of the two entries; YAML would silently keep the last"),
    "BC107": (
        "alias expansion too large",
        "anchors and aliases may not expand past the size limit; write the values out",
    ),
    "BC108": ("more than one YAML document", "keep one object per file; split at `---`"),
    "BC109": ("empty manifest", "write an object with apiVersion, kind, metadata and spec"),
    "BC110": ("manifest is not a mapping", "the top level must be a mapping (`key: value` lines)"),
    "BC111": ("non-scalar mapping key", "mapping keys must be plain strings"),
    "BC112": (
        "unsupported YAML tag",
        "remove the tag; manifests use plain strings, numbers, booleans, lists and mappings",
    ),
    "BC113": ("nesting too deep", "manifests are shallow; flatten the structure"),
    "BC114": (
        "not a regular file inside the repository",
        "a manifest is a regular file in the repository: replace the symlink, FIFO, device or"
        " socket with the YAML file itself",
    ),
    # envelope and schema
    "BC200": ("unsupported apiVersion", "set `apiVersion: benchctl/v1`"),
    "BC201": (
        "unknown kind",
        "use one of Provider, HarnessProfile, Variant, TaskCard, Experiment",
    ),
    "BC202": ("missing required field", "add the field; see docs/manifests.md for its meaning"),
    "BC203": ("unknown field", "remove the field or fix its spelling"),
    "BC204": ("wrong type", "give a value of the expected type"),
    "BC205": ("invalid value", "give a value that the field accepts"),
    "BC206": ("file name does not match metadata.name", "rename the file or fix metadata.name"),
    "BC207": ("manifest in the wrong folder", "move the file to the folder of its kind"),
    "BC208": ("invalid duration", "write durations like 30m, 4h, 1h30m or 7d"),
    "BC209": (
        "invalid name",
        "names are lowercase letters, digits and '-', start and end alphanumeric, at most 63",
    ),
    "BC210": (
        "session outcome does not match its status",
        "a finalized session needs an outcome; open and aborted sessions have none",
    ),
    "BC211": (
        "api_key_env names a credential of benchctl, LiteLLM, the stack or CI",
        "name the variable that holds this provider's own key, e.g. ACME_API_KEY",
    ),
    "BC212": (
        "env var that can take over a shell, a loader or traffic",
        "harness env may set the harness's own variables only; see docs/security.md for the list",
    ),
    "BC213": (
        "duration too long",
        "give a duration no longer than the field's ceiling (docs/manifests.md lists them)",
    ),
    "BC214": (
        "request.extra sets the endpoint or credentials",
        "set api_base and api_key_env in the provider manifest; extra is for sampling params",
    ),
    "BC215": (
        "api_base is a link-local or cloud metadata address",
        "point api_base at the provider's API; private and loopback addresses are fine",
    ),
    # cross-references
    "BC300": ("reference to an object that does not exist", "fix the name or add the manifest"),
    "BC301": ("duplicate name", "names are unique per kind; rename one of the objects"),
    "BC302": (
        "ambiguous names",
        "two names differ only in case or '-'/'_'; rename one so they cannot be confused",
    ),
    "BC303": ("model not offered by the provider", "add the model to the provider or fix it"),
    "BC304": (
        "harness setting not accepted by the profile",
        "declare the setting under the harness profile's spec.settings or remove it",
    ),
    "BC305": ("harness setting has the wrong value", "give a value the setting declares"),
    "BC306": ("baseline is not a variant of the experiment", "pick one of spec.variants"),
    "BC307": ("session variant is not in the experiment", "add it to spec.variants or fix it"),
    "BC308": ("session task card is not in the experiment", "add it to spec.task_cards or fix it"),
    "BC309": ("session replicate out of range", "replicates count from 1 to spec.replicates"),
    "BC310": ("duplicate session entry", "each variant x task card x replicate appears once"),
    "BC311": ("duplicate list entry", "list each name once"),
    "BC312": ("required harness setting missing", "set it in the variant's harness_settings"),
    "BC313": (
        "session key expires before the task's timebox",
        "raise session_policy.ttl to at least the longest timebox of the experiment's task cards",
    ),
    "BC314": (
        "task card path not usable",
        "name a folder (workspace, verify.tests) or file (oracle patch or script) that exists"
        " in this repository, written relative to its root",
    ),
    "BC315": (
        "hidden tests inside the workspace",
        "keep verify.tests out of the workspace folder, e.g. tasks/NAME/tests beside"
        " tasks/NAME/workspace: the agent must never see them",
    ),
    # secrets
    "BC400": (
        "secret-looking literal",
        "never put keys in manifests: name the env var that holds it with `api_key_env`",
    ),
    # templates
    "BC500": ("template syntax error", "fix the Jinja2 template"),
    "BC501": (
        "template uses an unknown variable",
        "templates may use proxy, session, variant and task_card; see docs/manifests.md",
    ),
    "BC503": (
        "template over its budget",
        "templates build short strings: no huge numbers, repetitions or loops (docs/security.md)",
    ),
    "BC504": (
        "session key outside env",
        "pass the key to the harness through an env var of spec.env, never launch or args",
    ),
    "BC505": (
        "control character in launch or args",
        "launch and args render to one line of shell text; remove the newline or escape",
    ),
}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem at one place. ``line`` and ``col`` are 1-based; 0 means "whole file"."""

    path: Path
    line: int
    col: int
    code: str
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.code not in CODES:  # a programming error, not a user error
            raise ValueError(f"unknown diagnostic code {self.code}")

    @property
    def effective_hint(self) -> str:
        return self.hint or CODES[self.code][1]

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (str(self.path), self.line, self.col, self.code, self.message)
