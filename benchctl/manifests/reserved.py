"""Environment variable names a manifest may not use, and why (docs/security.md).

Manifests arrive by pull request, so what they name is untrusted:

- A provider's ``api_key_env`` names the variable whose value LiteLLM sends as the credential
  to the provider's ``api_base``. Naming benchctl's, LiteLLM's, the stack's or the CI runner's
  own credentials there would send them to any host the manifest chooses.
- A harness profile's ``env`` is written into an env file the operator ``source``s and the
  harness starts with. Names that decide what a program loads, how a shell starts, which
  commands tools run, or where traffic and trust go would hand the shell to the manifest.
"""

from __future__ import annotations

import re

# -- api_key_env ---------------------------------------------------------------------------------
CREDENTIAL_PREFIXES = (
    "BENCHCTL_",  # benchctl's settings: database URLs, the proxy's master key
    "LITELLM_",  # the proxy's master and salt keys, its licence
    "PRISMA_",  # LiteLLM's database engines
    "PG",  # libpq: PGPASSWORD, PGSERVICEFILE...
    "REDIS_",  # LiteLLM's cache and spend buffer
    "GITHUB_",  # the runner's token and context
    "ACTIONS_",  # the runner's cache and artifact tokens
    "RUNNER_",
    "POSTGRES_",  # deploy/docker-compose.yml's database
    "GF_",  # Grafana's admin credentials
)
CREDENTIAL_SUFFIXES = ("_DATABASE_URL", "_PASSWORD", "_MASTER_KEY", "_SALT_KEY")
CREDENTIAL_NAMES = frozenset(
    {
        "DATABASE_URL",  # LiteLLM's database
        "DIRECT_URL",
        "STORE_MODEL_IN_DB",
        "UI_USERNAME",  # LiteLLM's admin UI
        "UI_PASSWORD",
        "MASTER_KEY",
        "SALT_KEY",
        "GH_TOKEN",
        "CI_JOB_TOKEN",
        # Credentials of the machine the proxy runs on, not of a provider's API key.
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    }
)


def reserved_credential(name: str) -> str | None:
    """Why ``name`` may not be a provider's ``api_key_env``, or None if it may."""
    upper = name.upper()
    if upper in CREDENTIAL_NAMES or upper.endswith(CREDENTIAL_SUFFIXES):
        return "it holds a credential of benchctl, LiteLLM or the stack"
    prefix = next((p for p in CREDENTIAL_PREFIXES if upper.startswith(p)), None)
    if prefix is not None:
        return f"{prefix}* variables hold credentials of benchctl, LiteLLM, the stack or CI"
    return None


# -- a variant's request.extra --------------------------------------------------------------------
# LiteLLM parameters that choose where a call goes and with which credentials: the provider
# manifest owns them, where a review sees them (and a plan marks their changes). LiteLLM also
# resolves `os.environ/NAME` strings in its params, which would read any variable of the proxy.
ROUTING_PARAMS = frozenset(
    {
        "model", "custom_llm_provider", "api_key", "api_base", "base_url", "api_version",
        "organization", "headers", "extra_headers", "litellm_credential_name", "credentials",
        "timeout", "stream_timeout", "max_retries", "num_retries", "rpm", "tpm",
        "input_cost_per_token", "output_cost_per_token", "mock_response",
    }
)  # fmt: skip
ROUTING_PREFIXES = ("aws_", "azure_", "vertex_", "watsonx_", "api_", "client_", "tenant_")
ROUTING_SUFFIXES = ("_key", "_token", "_secret", "_credentials", "_password", "_base", "_url")
ENV_REFERENCE = "os.environ/"


def routing_param(name: str) -> bool:
    """Whether ``name`` is a LiteLLM parameter that picks an endpoint or credentials."""
    lower = name.lower()
    return (
        lower in ROUTING_PARAMS
        or lower.startswith(ROUTING_PREFIXES)
        or lower.endswith(ROUTING_SUFFIXES)
    )


def env_references(value: object) -> bool:
    """Whether an ``os.environ/...`` string appears anywhere in ``value``."""
    if isinstance(value, str):
        return value.strip().startswith(ENV_REFERENCE)
    if isinstance(value, dict):
        return any(env_references(k) or env_references(v) for k, v in value.items())
    if isinstance(value, list):
        return any(env_references(v) for v in value)
    return False


# -- harness env ---------------------------------------------------------------------------------
# What the dynamic loader, shells and interpreters read at start, what tools run as commands,
# and where traffic and certificate trust go. Compared upper-cased: `http_proxy` is read too.
HIJACK_PREFIXES = (
    "LD_",  # LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT
    "DYLD_",  # macOS's loader
    "BASH_FUNC_",  # exported shell functions
    "GIT_CONFIG_",  # GIT_CONFIG_COUNT/KEY/VALUE set core.sshCommand and friends
    "NPM_CONFIG_",  # npm's scripts, registry and node options
    "BENCHCTL_DATABASE",
    "BENCHCTL_PROXY",
    "BENCHCTL_LITELLM",
)
HIJACK_NAMES = frozenset(
    {
        # shells
        "PATH", "HOME", "SHELL", "ENV", "BASH_ENV", "PROMPT_COMMAND", "PS0", "PS1", "PS2",
        "PS4", "SHELLOPTS", "BASHOPTS", "IFS", "CDPATH", "ZDOTDIR", "FPATH", "GLOBIGNORE",
        "HISTFILE", "TMPDIR",
        # interpreters
        "PYTHONSTARTUP", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONINSPECT",
        "PYTHONBREAKPOINT", "NODE_OPTIONS", "NODE_PATH", "PERL5OPT", "PERL5LIB", "PERLLIB",
        "RUBYOPT", "RUBYLIB", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
        "CLASSPATH", "GCONV_PATH", "LUA_INIT", "TCLLIBPATH",
        "PROMPT", "RPROMPT", "RPS1", "MAILPATH", "FCEDIT", "INPUTRC", "XDG_CONFIG_HOME",
        # commands other tools run
        "EDITOR", "VISUAL", "PAGER", "GIT_PAGER", "BROWSER", "GIT_SSH", "GIT_SSH_COMMAND",
        "GIT_EXEC_PATH", "GIT_ASKPASS", "SSH_ASKPASS", "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF",
        "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_TEMPLATE_DIR", "GIT_CONFIG", "LESSOPEN",
        "LESSCLOSE", "SUDO_ASKPASS", "AWS_CONFIG_FILE", "KUBECONFIG", "OPENSSL_CONF", "GOFLAGS",
        "RUSTC_WRAPPER", "CURL_HOME", "PYTHONWARNINGS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
        # where traffic and trust go
        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS",
        "NODE_TLS_REJECT_UNAUTHORIZED",
        # benchctl's and the proxy's own (harnesses may use LITELLM_API_KEY for the session key)
        "BENCHCTL_SESSION_ID", "BENCHCTL_OPERATOR", "LITELLM_MASTER_KEY", "LITELLM_SALT_KEY",
    }
)  # fmt: skip


# npm's registry may point at loopback only: a closed local port keeps a harness that installs
# plugins on start (OpenCode) off the network; anywhere else is where packages come from.
_LOOPBACK_REGISTRY = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?(/\S*)?$")


def hijacking(name: str, value: str | None = None) -> str | None:
    """Why a harness profile may not set ``name`` (to ``value``), or None if it may."""
    upper = name.upper()
    if upper == "NPM_CONFIG_REGISTRY" and value is not None:
        if _LOOPBACK_REGISTRY.match(value):
            return None
        return (
            "npm's registry may point at a loopback address only (a closed local port keeps a"
            " harness's installs off the network)"
        )
    if upper in HIJACK_NAMES:
        return "it changes what programs load, how shells start, or where traffic goes"
    prefix = next((p for p in HIJACK_PREFIXES if upper.startswith(p)), None)
    if prefix is not None:
        return f"{prefix}* variables change how programs load, or configure benchctl"
    return None
