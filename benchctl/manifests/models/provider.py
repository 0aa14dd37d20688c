"""Provider: an upstream inference provider reached through a LiteLLM route."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from benchctl.manifests.models.common import Envelope, EnvVarName, NonEmptyStr, Seed, StrictModel
from benchctl.manifests.reserved import reserved_credential

# Ceilings far above any real figure, so that a manifest cannot ask the simulator to wait for
# ever or make a cost overflow what the database stores.
NonNegative = Annotated[float, Field(ge=0, le=1_000_000)]
Positive = Annotated[float, Field(gt=0, le=1_000_000_000)]
Fraction = Annotated[float, Field(ge=0, le=1)]
ErrorKind = Literal["rate_limit", "server_error", "timeout"]
ModelId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]


# Cloud metadata services that are not link-local, and names that resolve to one.
_METADATA_ADDRESSES = frozenset({"fd00:ec2::254", "100.100.100.200"})
_METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"}
)


def _metadata_address(host: str) -> bool:
    """A link-local or cloud metadata address, however it is spelled: 169.254.169.254 as
    2852039166, 0xa9fea9fe, 0251.0376.0251.0376 or ::ffff:169.254.169.254 included."""
    name = host.rstrip(".").lower()
    if name in _METADATA_HOSTS:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:  # inet_aton reads the short, decimal, octal and hex IPv4 forms getaddrinfo does
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_link_local or str(address) in _METADATA_ADDRESSES


class _Rates(StrictModel):
    input: NonNegative = Field(description="Prompt tokens not served from or written to cache.")
    output: NonNegative = Field(description="Completion tokens, reasoning tokens included.")
    cache_read: NonNegative | None = Field(
        default=None, description="Prompt tokens read from cache. Default: the input price."
    )
    cache_write: NonNegative | None = Field(
        default=None,
        description="Prompt tokens written to cache (Anthropic's 5-minute TTL). Default: the"
        " input price.",
    )
    cache_write_1h: NonNegative | None = Field(
        default=None,
        description="Prompt tokens written to the 1-hour cache (Claude Code's TTL). Default:"
        " the cache_write price.",
    )


class PriceTier(_Rates):
    """Prices for requests whose prompt is longer than a threshold (long-context pricing). A
    cache price the tier leaves out is the base prices' one, then the tier's input price."""

    above_input_tokens: int = Field(
        ge=1, le=1_000_000_000, description="Applies when the prompt has more tokens than this."
    )


class Prices(_Rates):
    """USD per million tokens, as the provider bills them."""

    minimum_usd: NonNegative | None = Field(
        default=None, description="Smallest charge of a request that reports usage, if any."
    )
    tiers: list[PriceTier] = Field(
        default_factory=list,
        description="Long-context prices: the tier with the highest threshold below the"
        " prompt's size replaces these prices for the whole request.",
    )


class Distribution(StrictModel):
    """A log-normal distribution given by its median and 95th percentile."""

    median: Positive = Field(description="50th percentile.")
    p95: Positive = Field(description="95th percentile; at least the median.")

    @field_validator("p95")
    @classmethod
    def _at_least_median(cls, p95: float, info: ValidationInfo) -> float:
        median = info.data.get("median")
        if median is not None and p95 < median:
            raise PydanticCustomError(
                "BC205",
                "p95 ({p95}) must be at least the median ({median})",
                {"p95": p95, "median": median},
            )
        return p95


class SimulatedErrors(StrictModel):
    rate: Fraction = Field(default=0.0, description="Share of requests that fail.")
    kinds: list[ErrorKind] = Field(
        default_factory=lambda: list[ErrorKind](["server_error"]),
        min_length=1,
        description="Failures drawn uniformly: 429, 500, or no answer until the client times out.",
    )


class ModelSimulation(StrictModel):
    """How the simulated provider serves this model."""

    ttft_ms: Distribution = Field(description="Time to first token, milliseconds.")
    tokens_per_second: Distribution = Field(description="Output speed after the first token.")
    output_tokens: Distribution = Field(description="Completion length in tokens.")
    cached_prompt_fraction: Fraction = Field(
        default=0.0, description="Share of prompt tokens reported as cache reads."
    )
    errors: SimulatedErrors = Field(
        default_factory=SimulatedErrors, description="Injected failures."
    )
    solve_rate: Fraction | None = Field(
        default=None,
        description="Share of attempts at a task card with an oracle that this model solves:"
        " asked to edit (a write tool, or a text edit format the simulator knows), it writes"
        " the oracle's solution, else a plausible wrong change. Unset: it only talks.",
    )


class ProviderModel(StrictModel):
    context_window: int = Field(
        gt=0, le=1_000_000_000, description="Maximum prompt + completion tokens."
    )
    max_output_tokens: int | None = Field(
        default=None, gt=0, le=1_000_000_000, description="Longest completion the model returns."
    )
    prices: Prices = Field(description="USD per million tokens.")
    simulate: ModelSimulation | None = Field(
        default=None, description="Required when the provider has `simulator`; else not allowed."
    )


class EditTool(StrictModel):
    """A tool a harness offers that writes a whole file, and its argument names."""

    name: NonEmptyStr = Field(description="The tool's name as the harness declares it.")
    path: NonEmptyStr = Field(description="Argument holding the file's path.")
    content: NonEmptyStr = Field(description="Argument holding the file's new content.")


class TextEdits(StrictModel):
    """A text edit format, recognised by a phrase the harness's prompt uses to ask for it."""

    form: Literal["search_replace", "whole"] = Field(
        description="search_replace: `path`, then a fenced SEARCH/REPLACE block per file;"
        " whole: `path`, then the whole new file fenced."
    )
    when: NonEmptyStr = Field(description="Phrase of the request's prompt that asks for it.")


class Simulator(StrictModel):
    seed: Seed = Field(default=0, description="Seed of every random draw, for repeatable runs.")
    edit_tools: list[EditTool] = Field(
        default_factory=list,
        description="Tools that write a file: a request offering one gets its edits as calls.",
    )
    text_edits: list[TextEdits] = Field(
        default_factory=list,
        description="Text edit formats, the first whose phrase the prompt has; for harnesses"
        " that take edits as text (Aider).",
    )


class ProviderSpec(StrictModel):
    route: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+/$")] = Field(
        description="LiteLLM route prefix, e.g. `anthropic/`, `openai/`, `openrouter/`."
    )
    api_base: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")] | None = Field(
        default=None, description="Base URL of the provider's API; LiteLLM's default when absent."
    )
    api_key_env: EnvVarName | None = Field(
        default=None,
        description="Name of the env var holding the provider key; never the key itself.",
    )
    simulator: Simulator | None = Field(
        default=None, description="Marks the provider as benchctl's simulated upstream."
    )
    models: dict[ModelId, ProviderModel] = Field(
        min_length=1, description="Models offered, by the provider's model id."
    )

    @field_validator("api_base")
    @classmethod
    def _not_link_local(cls, url: str | None) -> str | None:
        host = (urlsplit(url).hostname or "") if url is not None else ""
        if _metadata_address(host):
            raise PydanticCustomError(
                "BC215",
                "api_base points at {host}, a link-local or cloud metadata address: no"
                " provider lives there, and the proxy's host may serve credentials there",
                {"host": host},
            )
        return url

    @field_validator("api_key_env")
    @classmethod
    def _own_credential(cls, name: str | None) -> str | None:
        why = reserved_credential(name) if name is not None else None
        if why is not None:
            raise PydanticCustomError(
                "BC211",
                "{name} may not be a provider's key: {why}, and LiteLLM would send it to this"
                " provider's api_base",
                {"name": name, "why": why},
            )
        return name

    @field_validator("models")
    @classmethod
    def _simulation_consistent(
        cls, models: dict[str, ProviderModel], info: ValidationInfo
    ) -> dict[str, ProviderModel]:
        simulated = info.data.get("simulator") is not None
        for model_id, model in models.items():
            if simulated != (model.simulate is not None):
                raise PydanticCustomError(
                    "BC205",
                    "model {model}: `simulate` is required when the provider has `simulator`"
                    " and not allowed otherwise",
                    {"model": repr(model_id)},
                )
        return models


class Provider(Envelope):
    kind: Literal["Provider"] = Field(description="Always `Provider`.")
    spec: ProviderSpec = Field(
        description="The provider's route, endpoint, key env var and models."
    )


def cost(
    prices: Prices,
    prompt: int,
    completion: int,
    cached_read: int,
    cache_write: int,
    cache_write_1h: int = 0,
) -> float:
    """USD at the provider manifest's per-million prices. Prompt tokens include those read from
    and written to cache (LiteLLM's usage object counts them in), and cache writes include the
    1-hour ones; cache prices default to the input price when the provider has none. A prompt
    past a tier's threshold prices the whole request at the tier (as Anthropic and Google bill
    long context)."""
    rates: _Rates = prices
    for tier in sorted(prices.tiers, key=lambda t: t.above_input_tokens):
        if prompt > tier.above_input_tokens:
            rates = tier
    one_hour = min(cache_write_1h, cache_write)
    uncached = max(prompt - cached_read - cache_write, 0)
    # A tier without its own cache prices takes the base ones, and only then the input price.
    read_price = _first(rates.cache_read, prices.cache_read, rates.input)
    write_price = _first(rates.cache_write, prices.cache_write, rates.input)
    hour_price = _first(rates.cache_write_1h, prices.cache_write_1h, write_price)
    micro = (
        uncached * rates.input
        + cached_read * read_price
        + (cache_write - one_hour) * write_price
        + one_hour * hour_price
        + completion * rates.output
    )
    billed = micro / 1_000_000
    # A minimum charge is for a request that used tokens, not for one that reported none.
    if prices.minimum_usd is not None and micro > 0:
        billed = max(billed, prices.minimum_usd)
    return billed


def _first(*values: float | None) -> float:
    return next(v for v in values if v is not None)
