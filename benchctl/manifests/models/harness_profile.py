"""HarnessProfile: how one harness talks to the proxy, rendered from templates."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from benchctl.manifests.models.common import Envelope, EnvVarName, NonEmptyStr, StrictModel
from benchctl.manifests.reserved import hijacking

Protocol = Literal["openai-chat", "openai-responses", "anthropic-messages"]
SettingValue = str | int | float | bool
SettingName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def setting_value_matches(kind: str, value: object) -> bool:
    """Whether ``value`` has the setting type ``kind`` (bool is not a number here)."""
    if isinstance(value, bool) and kind != "boolean":
        return False
    return isinstance(value, _PYTHON_TYPES[kind])


def _check_setting_type(kind: str | None, value: object) -> None:
    if kind is not None and value is not None and not setting_value_matches(kind, value):
        raise PydanticCustomError(
            "BC205",
            "{value} is not of the setting's type {type}",
            {"value": repr(value), "type": kind},
        )


class SettingSpec(StrictModel):
    type: Literal["string", "integer", "number", "boolean"] = Field(
        description="Type a variant's value must have."
    )
    description: str = Field(default="", description="What the setting changes.")
    required: bool = Field(default=False, description="Whether every variant must set it.")
    default: SettingValue | None = Field(
        default=None, description="Value templates see when a variant does not set it."
    )
    enum: list[SettingValue] | None = Field(
        default=None, min_length=1, description="The only values allowed, if given."
    )

    @field_validator("default")
    @classmethod
    def _default_fits(cls, value: SettingValue | None, info: ValidationInfo) -> SettingValue | None:
        _check_setting_type(info.data.get("type"), value)
        return value

    @field_validator("enum")
    @classmethod
    def _enum_fits(
        cls, values: list[SettingValue] | None, info: ValidationInfo
    ) -> list[SettingValue] | None:
        for value in values or []:
            _check_setting_type(info.data.get("type"), value)
        return values


_JSON_PATH = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
JsonPath = Annotated[str, StringConstraints(pattern=_JSON_PATH, max_length=200)]


class Account(StrictModel):
    """Where the harness reports what it thinks a session cost, in its own output."""

    format: Literal["json", "jsonl"] = Field(
        description="json: the output is (or ends with) one JSON object; jsonl: one JSON object"
        " a line, the matching ones summed."
    )
    match: dict[JsonPath, str | int | bool] = Field(
        default_factory=dict,
        description="jsonl: only objects whose fields (dotted paths) have these values count.",
    )
    cost_usd: JsonPath | None = Field(
        default=None, description="Dotted path of the cost in USD, e.g. total_cost_usd."
    )
    input_tokens: JsonPath | None = Field(default=None, description="Dotted path of input tokens.")
    output_tokens: JsonPath | None = Field(
        default=None, description="Dotted path of output tokens."
    )


# Relative, and never climbing out: segments that are not empty and not `..` (a pattern without
# look-around, which JSON Schema validators do not all support).
_SEGMENT = r"(?:[^./\x00][^/\x00]*|\.[^./\x00][^/\x00]*|\.\.[^/\x00]+|\.)"
_INSIDE = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"


class HarnessFile(StrictModel):
    """A file `benchctl run` renders before it starts the harness (a config, a cache)."""

    under: Literal["home", "workspace"] = Field(
        description="home: the attempt's private HOME; workspace: the task's checkout."
    )
    path: Annotated[str, StringConstraints(min_length=1, max_length=300)] = Field(
        description="Path relative to `under`, e.g. `.aider.conf.yml`; no `..`.",
        json_schema_extra={"pattern": _INSIDE},
    )
    content: str = Field(
        description="Jinja2 template of the file's content; it may not use the session key"
        " (it belongs in `env`)."
    )

    @field_validator("path")
    @classmethod
    def _inside(cls, path: str) -> str:
        if not re.fullmatch(_INSIDE, path):
            raise PydanticCustomError(
                "BC205",
                "{path} is not a path inside its folder: relative, no empty or `..` segment",
                {"path": repr(path)},
            )
        return path


class HarnessProfileSpec(StrictModel):
    harness: NonEmptyStr = Field(description="The harness, e.g. `Claude Code 2.x`.")
    protocol: Protocol = Field(description="The proxy API the harness calls.")
    env: dict[EnvVarName, str] = Field(
        min_length=1, description="Env var name -> Jinja2 template of its value."
    )
    args: list[str] = Field(
        default_factory=list, description="Jinja2 templates of command-line arguments."
    )
    settings: dict[SettingName, SettingSpec] = Field(
        default_factory=dict, description="Harness settings a variant may set."
    )
    launch: NonEmptyStr = Field(description="Jinja2 template of the command the operator runs.")
    docs_url: Annotated[str, StringConstraints(pattern=r"^https://\S+$")] | None = Field(
        default=None, description="Where the harness documents its proxy settings."
    )
    files: list[HarnessFile] = Field(
        default_factory=list,
        description="Files rendered into the private home or the workspace before a headless"
        " run starts the harness.",
    )
    version: NonEmptyStr | None = Field(
        default=None,
        description="Jinja2 template of a command printing the harness's version; `benchctl"
        " run` records its first line on the session.",
    )
    account: Account | None = Field(
        default=None,
        description="How to read the harness's own account of cost and tokens from its output,"
        " for the session's cost ledger (`benchctl session account`).",
    )

    @field_validator("env")
    @classmethod
    def _no_takeover(cls, env: dict[str, str]) -> dict[str, str]:
        for name, value in env.items():
            why = hijacking(name, value)
            if why is not None:
                raise PydanticCustomError(
                    "BC212",
                    "env may not set {name}: {why}; the operator sources this env file",
                    {"name": name, "why": why},
                )
        return env


class HarnessProfile(Envelope):
    kind: Literal["HarnessProfile"] = Field(description="Always `HarnessProfile`.")
    spec: HarnessProfileSpec = Field(description="Protocol, templates and accepted settings.")
