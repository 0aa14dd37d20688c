"""Variant: one benchmarkable combination of provider route, model, harness and settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from benchctl.manifests.models.common import Envelope, Name, NonEmptyStr, StrictModel
from benchctl.manifests.models.harness_profile import SettingName, SettingValue


class RequestParams(StrictModel):
    """Sent with every request of the variant (the proxy sets them on the model alias)."""

    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, gt=0)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    seed: int | None = None
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
    request: RequestParams = Field(default_factory=RequestParams)


class Variant(Envelope):
    kind: Literal["Variant"]
    spec: VariantSpec
