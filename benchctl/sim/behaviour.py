"""What the simulated provider does with one request, drawn from the model's `simulate` block.

Every draw is a pure function of (seed, model, prompt, occurrence): ``occurrence`` counts earlier
requests for the same model with the same prompt. Replaying a sequence of requests therefore
replays its outcomes, however the requests for different prompts interleave across threads.

Draws go through ``Random.random()`` only (normals by inverse CDF), the one part of
:mod:`random` whose sequence Python promises to keep across versions, so committed benchmark
results stay reproducible on a newer interpreter.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from benchctl.manifests.models.provider import Distribution, ErrorKind, ProviderModel

# Fields that carry what the model reads; everything else (stream flags, sampling settings,
# metadata a proxy adds) neither identifies the prompt nor counts as prompt tokens.
PROMPT_FIELDS = ("system", "instructions", "messages", "input", "prompt", "tools")
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
CHARS_PER_TOKEN = 4

_Z95 = NormalDist().inv_cdf(0.95)
# random() may return exactly 0.0, where the inverse CDF is undefined.
_SMALLEST_U = 1e-12
# Common words, each one token for usual tokenizers, so a client that counts tokens itself
# lands close to the usage block. (Split from prose: a 74-line list literal would hide them.)
_WORDS = (  # noqa: SIM905
    "the of and to in is it that for on with as was be by this are or from at an but not "
    "have has all can will one more if about which when so use make time may new see way "
    "each just only then also into than first made over like well need work code test file "
    "data run step value change result case check model call list set add keep find"
).split()


@dataclass(frozen=True)
class Prompt:
    """The parts of a request body that the simulation depends on."""

    key: str
    tokens: int
    max_tokens: int | None

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Prompt:
        """Read a chat-completions, responses or messages request body."""
        content = {field: body[field] for field in PROMPT_FIELDS if field in body}
        canonical = json.dumps(content, sort_keys=True)
        chars = sum(len(text) for text in strings(content))
        caps = [
            value
            for field in MAX_TOKENS_FIELDS
            if type(value := body.get(field)) is int and value > 0
        ]
        return cls(
            key=hashlib.sha256(canonical.encode()).hexdigest(),
            tokens=max(1, math.ceil(chars / CHARS_PER_TOKEN)),
            max_tokens=min(caps, default=None),
        )


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the protocols carry it


@dataclass(frozen=True)
class Outcome:
    """One request's fate. ``text`` holds exactly ``output_tokens`` space-separated words, one
    token each, so a stream cut into words reports the same usage as the whole answer; it is
    empty when ``error_kind`` is set. An editing answer (``benchctl.sim.work``) replaces the
    words with its text and ``tool_calls``, its tokens counted from their length."""

    request_id: str
    error_kind: ErrorKind | None
    ttft_s: float
    tps: float
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int
    text: str
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def generation_s(self) -> float:
        """Time from the first token to the last, at ``tps``."""
        return self.output_tokens / self.tps


def sample(
    *, seed: int, model: str, spec: ProviderModel, prompt: Prompt, occurrence: int
) -> Outcome:
    """Draw the outcome of the ``occurrence``-th request (from 0) with ``prompt`` to ``model``."""
    simulate = spec.simulate
    if simulate is None:
        raise ValueError(f"model {model!r} has no `simulate` block")
    digest = hashlib.sha256(f"{seed}\0{model}\0{prompt.key}\0{occurrence}".encode()).digest()
    rng = random.Random(int.from_bytes(digest, "big"))  # noqa: S311 - a simulation, not a secret
    # Always the same draws in the same order, so changing the error rate of a model does not
    # reshuffle the timings and lengths of the requests that still succeed.
    u_error, u_kind, u_ttft, u_tps, u_length = (rng.random() for _ in range(5))
    kinds = simulate.errors.kinds
    error = kinds[int(u_kind * len(kinds))] if u_error < simulate.errors.rate else None
    caps = [c for c in (prompt.max_tokens, spec.max_output_tokens) if c is not None]
    length = round(_quantile(simulate.output_tokens, u_length))
    output_tokens = max(1, min([length, *caps]))
    words = (
        ""
        if error
        else " ".join(_WORDS[int(rng.random() * len(_WORDS))] for _ in range(output_tokens))
    )
    return Outcome(
        request_id=digest.hex()[:24],
        error_kind=error,
        ttft_s=_quantile(simulate.ttft_ms, u_ttft) / 1000,
        tps=_quantile(simulate.tokens_per_second, u_tps),
        prompt_tokens=prompt.tokens,
        cached_tokens=math.floor(prompt.tokens * simulate.cached_prompt_fraction),
        output_tokens=output_tokens,
        text=words,
    )


def _quantile(dist: Distribution, u: float) -> float:
    """The log-normal with ``dist``'s median and 95th percentile, at probability ``u``."""
    sigma = math.log(dist.p95 / dist.median) / _Z95
    return dist.median * math.exp(sigma * NormalDist().inv_cdf(max(u, _SMALLEST_U)))


def strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
