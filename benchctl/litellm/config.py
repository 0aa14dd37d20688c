"""The LiteLLM proxy config, rendered from manifests.

One ``model_list`` entry per variant, named after the variant: the variant's name is the model
alias a session key is scoped to and the harness asks for. Secrets never appear in the rendered
text: the provider key, the master key and the database URL are ``os.environ/NAME`` references
that LiteLLM resolves when it starts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import yaml

from benchctl.litellm import DEFAULT_BATCH_WRITE_SECONDS
from benchctl.manifests.catalog import Repository
from benchctl.manifests.models import Provider, Variant
from benchctl.manifests.models.provider import Prices

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
DATABASE_URL_ENV = "DATABASE_URL"
# Where several proxy instances find their shared Redis (LiteLLM's own variable names).
REDIS_HOST_ENV = "REDIS_HOST"
REDIS_PORT_ENV = "REDIS_PORT"
# How long an instance trusts a virtual key it looked up before asking Redis and its database
# again (LiteLLM's default: 60 s). LiteLLM 1.106.2 deletes a key from the cache of the instance
# that deleted it and from Redis, but broadcasts nothing for it: another instance keeps its
# copy until this expires. It is therefore the bound on a revoked key passing somewhere.
DEFAULT_KEY_CACHE_TTL_S = 5
# The openai/ route refuses to send a request without some key. The simulator checks none, so
# this literal only satisfies LiteLLM; it grants nothing anywhere.
SIMULATOR_API_KEY = "sim-no-key"

# Session keys carry {"benchctl": {"experiment": ..., "variant": ..., "task_card": ...}} in their
# metadata. LiteLLM copies a key's metadata into each request's logging payload, and
# `custom_prometheus_metadata_labels` turns these dotted paths (string values only) into labels
# (`metadata_benchctl_experiment`, ...) on every LiteLLM metric. The session itself needs no extra
# label: its key alias is the built-in `api_key_alias` label, its key hash `hashed_api_key`.
METRIC_METADATA_PATHS = ("benchctl.experiment", "benchctl.variant", "benchctl.task_card")

# LiteLLM's per-token cost fields, by our per-million price field.
_COST_FIELDS = {
    "input": "input_cost_per_token",
    "output": "output_cost_per_token",
    "cache_read": "cache_read_input_token_cost",
    "cache_write": "cache_creation_input_token_cost",
}

_HEADER = """\
# LiteLLM proxy config rendered by `benchctl render litellm-config` from the manifests.
# Do not edit: change the manifests and render again, then restart the proxy.
#
# - model_name is the variant's name: session keys are scoped to it and harnesses ask for it.
# - Provider keys, the master key and the database URL are os.environ/ references that
#   LiteLLM resolves at start; this file holds no secret.
# - Request parameters of a variant are defaults for the model alias: LiteLLM lets a value
#   sent by the client override them.
# - Prices are the providers' per-million prices divided by 1e6, so LiteLLM's spend can be
#   checked against the cost benchctl recomputes from usage.
# - proxy_batch_write_at is {batch}s: spend-log rows and key spend reach LiteLLM's database, where
#   the collector reads them, every {batch} to {batch_max}s (LiteLLM adds 0-5s).{batch_note}
# - Metrics: the session's key alias is the api_key_alias label of every metric; the
#   experiment, variant and task card come from the key's metadata as metadata_* labels.
"""
_LOCAL_BATCH_NOTE = (
    "\n#   1s suits a local proxy and tests; a busy proxy may want fewer, larger writes."
)


def render_config(
    repository: Repository,
    *,
    api_base_overrides: Mapping[str, str] | None = None,
    batch_write_seconds: int = DEFAULT_BATCH_WRITE_SECONDS,
) -> dict[str, Any]:
    """The proxy config for every variant of a valid repository.

    ``api_base_overrides`` maps provider names to the base URL to use instead of the manifest's
    (e.g. the simulator on the port it actually got). The repository must have loaded without
    errors: every variant's provider and model exist.
    """
    overrides = dict(api_base_overrides or {})
    unknown = sorted(set(overrides) - set(repository.providers))
    if unknown:
        raise ValueError(f"api_base override for unknown provider(s): {', '.join(unknown)}")
    if batch_write_seconds < 1:
        raise ValueError("the batch write interval must be at least 1 second")
    model_list = [
        _model_entry(
            variant.model, repository.providers[variant.model.spec.provider].model, overrides
        )
        for _, variant in sorted(repository.variants.items())
    ]
    return {
        "model_list": model_list,
        "litellm_settings": {
            "callbacks": ["prometheus"],
            # Prometheus scrapes without credentials; the metrics carry key hashes and aliases,
            # never keys.
            "require_auth_for_metrics_endpoint": False,
            # Invariant: no prompt or response content leaves the proxy through its loggers.
            "turn_off_message_logging": True,
            "custom_prometheus_metadata_labels": [
                f"metadata.{path}" for path in METRIC_METADATA_PATHS
            ],
        },
        "general_settings": {
            "master_key": f"os.environ/{MASTER_KEY_ENV}",
            "database_url": f"os.environ/{DATABASE_URL_ENV}",
            "proxy_batch_write_at": batch_write_seconds,
            "disable_spend_logs": False,
        },
        # LiteLLM's router retries a failed call twice by default, inside one logged request:
        # the harness would see neither the upstream's errors nor where its latency went. A
        # benchmark measures what the provider did; harnesses retry by their own rules.
        "router_settings": {"num_retries": 0},
    }


def with_redis(
    config: Mapping[str, Any], *, key_cache_ttl_s: int = DEFAULT_KEY_CACHE_TTL_S
) -> dict[str, Any]:
    """``config`` for one of several proxy instances sharing one LiteLLM database and a Redis.

    The settings LiteLLM documents for multi-instance deployments, and nothing that changes
    what a request does (no response cache: a benchmark must reach the provider every time):

    - ``coordination_redis``: spend counters, budget windows and rate limits are counted in
      Redis, so a key's budget is one budget whichever instance serves it;
    - ``enable_redis_auth_cache``: key lookups are shared through Redis, so an instance whose
      own copy expired sees a deleted key as deleted;
    - ``use_redis_transaction_buffer``: instances queue spend updates in Redis and one of them,
      holding a lock, writes them: no deadlocks between instances updating the same key row;
    - ``user_api_key_cache_ttl``: the bound on how long a revoked key can still pass somewhere.
    """
    redis = {"host": f"os.environ/{REDIS_HOST_ENV}", "port": f"os.environ/{REDIS_PORT_ENV}"}
    scaled: dict[str, Any] = json.loads(json.dumps(config))
    scaled["litellm_settings"]["enable_redis_auth_cache"] = True
    scaled["general_settings"].update(
        {
            "coordination_redis": redis,
            "use_redis_transaction_buffer": True,
            "user_api_key_cache_ttl": key_cache_ttl_s,
        }
    )
    return scaled


def _model_entry(
    variant: Variant, provider: Provider, api_base_overrides: Mapping[str, str]
) -> dict[str, Any]:
    spec = provider.spec
    request = variant.spec.request
    # `extra` goes first so that it can never redirect the route, endpoint or credentials.
    params: dict[str, Any] = dict(request.extra)
    params["model"] = spec.route + variant.spec.model
    api_base = api_base_overrides.get(provider.metadata.name, spec.api_base)
    if api_base is not None:
        params["api_base"] = api_base
    if spec.api_key_env is not None:
        params["api_key"] = f"os.environ/{spec.api_key_env}"
    elif spec.simulator is not None:
        params["api_key"] = SIMULATOR_API_KEY
    for name in ("temperature", "top_p", "max_tokens", "seed", "reasoning_effort"):
        value = getattr(request, name)
        if value is not None:
            params[name] = value
    prices = spec.models[variant.spec.model].prices
    return {
        "model_name": variant.metadata.name,
        "litellm_params": params,
        "model_info": _costs(prices),
    }


def _costs(prices: Prices) -> dict[str, float]:
    costs: dict[str, float] = {}
    for field, litellm_field in _COST_FIELDS.items():
        per_million = getattr(prices, field)
        if per_million is not None:
            # Through Decimal so that 0.3 per million is 3e-07, not 2.9999999999999997e-07.
            costs[litellm_field] = float(Decimal(str(per_million)) / Decimal(1_000_000))
    return costs


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a rendered config, with the explanatory header; keys keep their order."""
    batch = config["general_settings"]["proxy_batch_write_at"]
    note = _LOCAL_BATCH_NOTE if batch == DEFAULT_BATCH_WRITE_SECONDS else ""
    body = yaml.safe_dump(dict(config), sort_keys=False, default_flow_style=False, width=100)
    return _HEADER.format(batch=batch, batch_max=batch + 5, batch_note=note) + body


def config_fingerprint(config: Mapping[str, Any]) -> str:
    """SHA-256 of the config's canonical JSON: equal configs, equal fingerprints."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()
