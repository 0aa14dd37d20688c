"""Experiment: a named comparison of variants on task cards, and its sessions."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from benchctl.manifests.models.common import Duration, Envelope, Name, StrictModel, at_most

SessionStatus = Literal["open", "finalized", "aborted"]
Outcome = Literal["success", "partial", "failure"]
OutcomeSource = Literal["verified", "self-reported"]


# A quantified group whose body ends in a quantifier: `(a+)+`, `(\w*)*`, `(x+){2,}`. Python's
# regexes have no timeout, and such a pattern can backtrack for hours on a crafted prompt.
_NESTED_QUANTIFIER = re.compile(r"[+*}][)]+[+*{]")


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PydanticCustomError(
            "BC205",
            "redaction pattern {pattern} is not a valid regex: {error}",
            {"pattern": repr(pattern), "error": str(exc)},
        ) from None
    if _NESTED_QUANTIFIER.search(pattern):
        raise PydanticCustomError(
            "BC205",
            "redaction pattern {pattern} repeats a repeated group, which can backtrack for"
            " hours on some input; write it without the nested quantifier",
            {"pattern": repr(pattern)},
        )
    return pattern


class ContentCapture(StrictModel):
    """Prompt/response capture: off unless enabled here, and then redacted and stored apart."""

    enabled: bool = Field(default=False, description="Store prompts and responses at all.")
    redact: list[Annotated[str, AfterValidator(_compiles)]] = Field(
        default_factory=list, description="Regexes whose matches are replaced before storage."
    )
    retention: Annotated[Duration, at_most("3650d")] = Field(
        default="30d", description="How long captured content is kept (at most 3650d)."
    )


class SessionPolicy(StrictModel):
    ttl: Annotated[Duration, at_most("365d")] = Field(
        default="4h", description="Lifetime of a session's proxy key (at most 365d)."
    )
    budget_usd: float = Field(
        default=5.0, gt=0, le=100_000, description="Spend limit of a session's key, in USD."
    )
    content_capture: ContentCapture = Field(
        default_factory=ContentCapture, description="Off by default."
    )


class SessionEntry(StrictModel):
    variant: Name = Field(description="One of the experiment's variants.")
    task_card: Name = Field(description="One of the experiment's task cards.")
    replicate: int = Field(default=1, ge=1, le=100, description="1 to spec.replicates.")
    status: SessionStatus = Field(default="open", description="Desired state of the session.")
    outcome: Outcome | None = Field(
        default=None, validate_default=True, description="Required once finalized."
    )
    outcome_source: OutcomeSource | None = Field(
        default=None,
        description="verified: the outcome is the task card's verifier's, as `benchctl session"
        " verify` recorded it (plan checks they agree); self-reported: typed by the operator."
        " An outcome without a source is self-reported.",
    )
    notes: str = Field(default="", description="The operator's notes on the session.")

    @field_validator("outcome_source")
    @classmethod
    def _source_needs_outcome(
        cls, source: OutcomeSource | None, info: ValidationInfo
    ) -> OutcomeSource | None:
        if source is not None and info.data.get("outcome") is None:
            raise PydanticCustomError("BC210", "an outcome_source needs an outcome")
        return source

    @field_validator("outcome")
    @classmethod
    def _outcome_matches_status(
        cls, outcome: Outcome | None, info: ValidationInfo
    ) -> Outcome | None:
        status = info.data.get("status")
        if status == "finalized" and outcome is None:
            raise PydanticCustomError("BC210", "a finalized session needs an outcome")
        if status in ("open", "aborted") and outcome is not None:
            raise PydanticCustomError(
                "BC210",
                "a session with status {status} cannot have an outcome",
                {"status": repr(status)},
            )
        return outcome


class Headless(StrictModel):
    """The experiment's grid runs headless: `benchctl run` executes its sessions."""

    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Attempts a session gets when infrastructure fails (setup, harness missing,"
        " proxy down, runner killed); the agent's own failures are never retried.",
    )
    sandbox: Literal["auto", "bwrap", "none"] = Field(
        default="auto",
        description="Run the harness under bubblewrap: auto when installed, bwrap to require it.",
    )


class ExperimentSpec(StrictModel):
    hypothesis: str = Field(default="", description="What the experiment sets out to show.")
    variants: list[Name] = Field(min_length=1, description="Variants compared.")
    task_cards: list[Name] = Field(min_length=1, description="Task cards every variant works.")
    baseline: Name = Field(description="The variant others are compared against.")
    replicates: int = Field(default=1, ge=1, le=100, description="Sessions per variant x task.")
    self_reported_outcomes: Literal["exclude", "include"] = Field(
        default="exclude",
        description="Whether success rates and cost per success count outcomes the operator"
        " typed (include), or only those a verifier measured (exclude).",
    )
    session_policy: SessionPolicy = Field(
        default_factory=SessionPolicy, description="Limits of every session's proxy key."
    )
    headless: Headless | None = Field(
        default=None,
        description="Open every variant x task card x replicate as a headless session for"
        " `benchctl run`; entries in `sessions` stay interactive and take precedence.",
    )
    sessions: list[SessionEntry] = Field(
        default_factory=list, description="Sessions to open, finalize or abort."
    )


class Experiment(Envelope):
    kind: Literal["Experiment"] = Field(description="Always `Experiment`.")
    spec: ExperimentSpec = Field(description="Variants, task cards, policy and sessions.")
