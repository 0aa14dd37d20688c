"""Variant: one benchmarkable combination of provider route, model, harness and settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from benchctl.manifests.models.common import Envelope, Name, NonEmptyStr, StrictModel
from benchctl.manifests.models.harness_profile import SettingName, SettingValue


class RequestParams(StrictModel):
    """Sent with every request of the variant (the proxy sets them on the model alias)."""

    temperature: float | None = Field(default=None, ge=0, le=2, description="Sampling temperature.")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass.")
    max_tokens: int | None = Field(default=None, gt=0, description="Completion token limit.")
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = Field(
        default=None, description="For reasoning models; LiteLLM maps it per provider."
    )
    seed: int | None = Field(default=None, description="Sampling seed, where supported.")
    extra: dict[str, Any] = Field(
        default_factory=dict, description="More LiteLLM params, passed through verbatim."
    )


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
