"""Variant: one benchmarkable combination of provider route, model, harness and settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from benchctl.manifests.models.common import Envelope, Name, NonEmptyStr, Seed, StrictModel
from benchctl.manifests.models.harness_profile import SettingName, SettingValue
from benchctl.manifests.reserved import env_references, routing_param


class RequestParams(StrictModel):
    """Sent with every request of the variant (the proxy sets them on the model alias)."""

    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int | None = Field(
        default=None, gt=0, le=10_000_000, description="Completion token limit."
    )
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        default=None, description="For reasoning models; LiteLLM maps it per provider."
    )
    seed: Seed | None = Field(default=None, description="Sampling seed, where supported.")
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="More LiteLLM params (sampling and the like), passed through verbatim; not"
        " the endpoint, credentials or env references, which belong to the provider.",
    )

    @field_validator("extra")
    @classmethod
    def _no_routing(cls, extra: dict[str, Any]) -> dict[str, Any]:
        for name, value in extra.items():
            if routing_param(name):
                raise PydanticCustomError(
                    "BC214",
                    "extra may not set {name}: where a call goes and with which credentials"
                    " is the provider manifest's to say",
                    {"name": name},
                )
            if env_references(value):
                raise PydanticCustomError(
                    "BC214",
                    "extra.{name} references an environment variable (os.environ/...), which"
                    " LiteLLM would read from the proxy's environment",
                    {"name": name},
                )
        return extra


class VariantSpec(StrictModel):
    provider: Name = Field(description="Name of a Provider.")
    model: NonEmptyStr = Field(description="A model id the provider offers.")
    harness_profile: Name = Field(description="Name of a HarnessProfile.")
    harness_settings: dict[SettingName, SettingValue] = Field(
        default_factory=dict, description="Values for settings the harness profile declares."
    )
    request: RequestParams = Field(
        default_factory=RequestParams, description="Request parameters fixed by the variant."
    )


class Variant(Envelope):
    kind: Literal["Variant"] = Field(description="Always `Variant`.")
    spec: VariantSpec = Field(description="Provider, model, harness and settings compared.")
