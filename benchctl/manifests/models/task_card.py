"""TaskCard: the task every session of a comparison works on, and how an attempt is scored."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from benchctl.manifests.models.common import (
    Duration,
    Envelope,
    NonEmptyStr,
    StrictModel,
    at_most,
)

Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=63)]

_REPO_PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$"


def _check_repo_path(value: str) -> str:
    parts = value.split("/")
    if not re.fullmatch(_REPO_PATH_PATTERN, value) or "" in parts or ".." in parts:
        raise PydanticCustomError(
            "BC205",
            "{value} is not a path inside the repository: write it relative to the repository"
            " root with '/' and no '..', e.g. tasks/fix-median/tests",
            {"value": repr(value)},
        )
    return value


# A file or folder of the benchmark repository, relative to its root; the references check
# that it exists and stays inside the repository.
RepoPath = Annotated[
    str,
    Field(json_schema_extra={"pattern": _REPO_PATH_PATTERN}, max_length=255),
    AfterValidator(_check_repo_path),
]


class Repository(StrictModel):
    url: Annotated[str, StringConstraints(pattern=r"^(https://|ssh://|git@|file://)\S+$")] = Field(
        description="Where the task's code lives."
    )
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")] = Field(
        description="Commit sha the session starts from; quote an all-digit sha."
    )


class Setup(StrictModel):
    run: NonEmptyStr = Field(
        description="Shell command run in a fresh workspace before the agent starts"
        " (install, build)."
    )
    timeout: Annotated[Duration, at_most("2h")] = Field(
        default="10m", description="Setup fails past this (at most 2h)."
    )


class Verify(StrictModel):
    run: NonEmptyStr = Field(
        description="Shell command that scores an attempt, run in the workspace after the agent"
        " finished. Exit 0 is reward 1.0, anything else 0.0, unless it writes a reward file"
        " (`reward.txt`, or `reward.json` with named sub-scores) to `$BENCHCTL_VERIFIER_DIR`."
    )
    tests: RepoPath | None = Field(
        default=None,
        description="Folder of hidden tests and fixtures, copied to `$BENCHCTL_TESTS_DIR` (and"
        " `/tests` in the sandbox) only for verification; the agent never sees it.",
    )
    timeout: Annotated[Duration, at_most("2h")] = Field(
        default="10m", description="A verifier still running past this is an unscored error."
    )
    pass_threshold: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="Reward at or above which the outcome is success; above 0 and below it is"
        " partial, 0 is failure.",
    )


class Oracle(StrictModel):
    patch: RepoPath | None = Field(
        default=None, description="A unified diff (git apply) that solves the task."
    )
    script: RepoPath | None = Field(
        default=None,
        description="A shell script that solves the task, run with bash in the workspace"
        " (its folder is `$BENCHCTL_SOLUTION_DIR`, and `/solution` in the sandbox).",
    )
    timeout: Annotated[Duration, at_most("2h")] = Field(
        default="10m", description="The oracle fails past this."
    )

    @model_validator(mode="after")
    def _one_solution(self) -> Self:
        if (self.patch is None) == (self.script is None):
            raise PydanticCustomError(
                "BC205", "an oracle is either a patch or a script: give exactly one"
            )
        return self


class TaskCardSpec(StrictModel):
    title: NonEmptyStr = Field(description="One line for tables and reports.")
    repository: Repository | None = Field(
        default=None, description="Code the task works on: a git repository at a commit."
    )
    workspace: RepoPath | None = Field(
        default=None,
        description="Or: a folder of this repository holding the starting files,"
        " e.g. tasks/fix-median/workspace.",
    )
    instructions: NonEmptyStr = Field(description="What the operator asks the harness to do.")
    acceptance_criteria: list[NonEmptyStr] = Field(
        default_factory=list,
        description="Checks that decide success, for people; required when there is no verify.",
    )
    setup: Setup | None = Field(default=None, description="Prepares a fresh workspace.")
    verify: Verify | None = Field(
        default=None, description="Scores an attempt; without it outcomes are self-reported."
    )
    oracle: Oracle | None = Field(
        default=None, description="A reference solution proving the task solvable (task check)."
    )
    timebox: Annotated[Duration, at_most("7d")] = Field(
        description="How long a session may take, e.g. 30m (at most 7d)."
    )
    difficulty: Literal["easy", "medium", "hard"] = Field(description="Rough difficulty.")
    tags: list[Tag] = Field(default_factory=list, description="For grouping in reports.")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if (self.repository is None) == (self.workspace is None):
            raise PydanticCustomError(
                "BC205",
                "a task card starts from either a repository (url and commit) or a workspace"
                " folder of this repository: give exactly one",
            )
        if self.verify is None and not self.acceptance_criteria:
            raise PydanticCustomError(
                "BC205",
                "a task card without verify needs acceptance_criteria, so people can judge it",
            )
        if self.oracle is not None and self.verify is None:
            raise PydanticCustomError(
                "BC205", "an oracle proves a task solvable by its verifier: add verify"
            )
        return self


class TaskCard(Envelope):
    kind: Literal["TaskCard"] = Field(description="Always `TaskCard`.")
    spec: TaskCardSpec = Field(description="The task, its code and how success is judged.")
