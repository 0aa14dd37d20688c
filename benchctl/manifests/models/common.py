"""Types shared by every manifest kind: the envelope, names, durations."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

API_VERSION = "benchctl/v1"

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
LABEL_KEY_PATTERN = r"^[a-z0-9]([a-z0-9._/-]{0,61}[a-z0-9])?$"
DURATION_PATTERN = r"^([0-9]+[dhms])+$"
# The schema's pattern also refuses zero (a lookahead, which JSON Schema's ECMA regexes have and
# pydantic's do not; the model refuses zero in _check_duration instead).
_DURATION_SCHEMA_PATTERN = r"^(?=[0-9dhms]*[1-9])([0-9]+[dhms])+$"
_DURATION_PART = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class StrictModel(BaseModel):
    """Unknown fields are errors, and no type is coerced: what the YAML says is what is checked,
    the same way the published JSON Schemas check it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


def _check_name(value: str) -> str:
    if not re.fullmatch(NAME_PATTERN, value):
        raise PydanticCustomError(
            "BC209",
            "{value} is not a valid name: use lowercase letters, digits and '-'",
            {"value": repr(value)},
        )
    return value


def duration_seconds(value: str) -> int:
    """Seconds in a duration such as ``1h30m``."""
    return sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value))


def _check_duration(value: str) -> str:
    if not re.fullmatch(DURATION_PATTERN, value) or duration_seconds(value) == 0:
        raise PydanticCustomError(
            "BC208",
            "{value} is not a positive duration such as 30m, 4h, 1h30m or 7d",
            {"value": repr(value)},
        )
    return value


def at_most(limit: str) -> AfterValidator:
    """A duration no longer than ``limit``: what the database and LiteLLM store, and sane."""
    ceiling = duration_seconds(limit)

    def check(value: str) -> str:
        if duration_seconds(value) > ceiling:
            raise PydanticCustomError(
                "BC213",
                "{value} is longer than {limit}, the most this field accepts",
                {"value": repr(value), "limit": limit},
            )
        return value

    return AfterValidator(check)


# Names keep their pattern in the JSON Schema; the validator turns a mismatch into BC209.
Name = Annotated[
    str, Field(json_schema_extra={"pattern": NAME_PATTERN}), AfterValidator(_check_name)
]
Duration = Annotated[
    str,
    Field(json_schema_extra={"pattern": _DURATION_SCHEMA_PATTERN}),
    AfterValidator(_check_duration),
]
EnvVarName = Annotated[str, StringConstraints(pattern=ENV_VAR_PATTERN)]
LabelKey = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
# A seed LiteLLM and the providers take: a signed 64-bit integer.
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Metadata(StrictModel):
    name: Name = Field(description="Unique name within the kind; the file is `<name>.yaml`.")
    description: str = Field(default="", description="Free text for people; cosmetic.")
    labels: dict[LabelKey, str] = Field(
        default_factory=dict, description="Key/value pairs for grouping and filtering; cosmetic."
    )


class Envelope(StrictModel):
    """Fields every manifest carries; each kind adds ``kind`` and ``spec``."""

    apiVersion: Literal["benchctl/v1"] = Field(description="Always `benchctl/v1`.")
    metadata: Metadata = Field(description="Identity and cosmetic details.")
