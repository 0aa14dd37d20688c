"""TaskCard: the task every session of a comparison works on."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from benchctl.manifests.models.common import (
    Duration,
    Envelope,
    NonEmptyStr,
    StrictModel,
    at_most,
)

Tag = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=63)]


class Repository(StrictModel):
    url: Annotated[str, StringConstraints(pattern=r"^(https://|ssh://|git@|file://)\S+$")] = Field(
        description="Where the task's code lives."
    )
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")] = Field(
        description="Commit sha the session starts from; quote an all-digit sha."
    )


class TaskCardSpec(StrictModel):
    title: NonEmptyStr = Field(description="One line for tables and reports.")
    repository: Repository = Field(description="Code the task works on.")
    instructions: NonEmptyStr = Field(description="What the operator asks the harness to do.")
    acceptance_criteria: list[NonEmptyStr] = Field(
        min_length=1, description="Checks that decide success."
    )
    timebox: Annotated[Duration, at_most("7d")] = Field(
        description="How long a session may take, e.g. 30m (at most 7d)."
    )
    difficulty: Literal["easy", "medium", "hard"] = Field(description="Rough difficulty.")
    tags: list[Tag] = Field(default_factory=list, description="For grouping in reports.")


class TaskCard(Envelope):
    kind: Literal["TaskCard"] = Field(description="Always `TaskCard`.")
    spec: TaskCardSpec = Field(description="The task, its code and how success is judged.")
