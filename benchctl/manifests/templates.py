"""Harness profile templates: Jinja2 in a sandbox, undefined variables are errors.

Templates come from manifests, i.e. from pull requests, so they run in Jinja2's sandbox. The
variables they may use are the four mappings of ``TemplateContext``; docs/manifests.md lists
their fields.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.models import HarnessProfile
from benchctl.manifests.yaml_source import PathSegment, YamlDocument

_ENV = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)

_SAMPLE_VALUE = {"string": "example", "integer": 1, "number": 1.0, "boolean": False}


@dataclass(frozen=True)
class RenderedHarness:
    """A harness profile rendered for one session: the operator runs ``command``."""

    env: dict[str, str]
    args: list[str]
    launch: str

    @property
    def command(self) -> str:
        """``launch`` followed by the arguments, each quoted for a POSIX shell."""
        return " ".join([self.launch, *(shlex.quote(arg) for arg in self.args)])


# Every variable a template may use, with an example value. Checks render each template against
# these examples; apply renders the same shape with the session's real values.
TEMPLATE_VARIABLES: dict[str, dict[str, Any]] = {
    "proxy": {"url": "http://127.0.0.1:4000"},
    "session": {
        "id": "example-session",
        "key": "sk-example",
        "key_alias": "benchctl-example",
        "experiment": "example-experiment",
        "replicate": 1,
        "env_file": ".benchctl/sessions/example.env",
    },
    "variant": {
        "name": "example-variant",
        "model_alias": "example-variant",
        "model": "example-model",
        "provider": "example-provider",
        "route": "openai/",
        "settings": {},
        "request": {},
    },
    "task_card": {
        "name": "example-task",
        "title": "Example task",
        "repository_url": "https://example.invalid/repo.git",
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "timebox": "30m",
        "instructions": "Make the failing test pass.",
    },
}


def resolved_settings(profile: HarnessProfile, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting the profile declares: the variant's value, else the default, else None."""
    return {
        name: values.get(name, setting.default) for name, setting in profile.spec.settings.items()
    }


def sample_context(profile: HarnessProfile) -> dict[str, Mapping[str, Any]]:
    """The example context, with a value of the right type for every declared setting."""
    samples = {
        name: _SAMPLE_VALUE[setting.type]
        for name, setting in profile.spec.settings.items()
        if setting.default is None
    }
    context = {group: dict(values) for group, values in TEMPLATE_VARIABLES.items()}
    context["variant"]["settings"] = resolved_settings(profile, samples)
    return dict(context)


def _templates(profile: HarnessProfile) -> Iterator[tuple[tuple[PathSegment, ...], str]]:
    for name, value in profile.spec.env.items():
        yield ("spec", "env", name), value
    for index, value in enumerate(profile.spec.args):
        yield ("spec", "args", index), value
    yield ("spec", "launch"), profile.spec.launch


def render(profile: HarnessProfile, context: Mapping[str, Mapping[str, Any]]) -> RenderedHarness:
    """Render every template of ``profile``; raises jinja2 errors on bad templates."""

    def one(source: str) -> str:
        return _ENV.from_string(source).render(context)

    return RenderedHarness(
        env={name: one(value) for name, value in profile.spec.env.items()},
        # An argument that renders empty (a false `{% if %}`) is left out, not passed as "".
        args=[arg for arg in (one(value) for value in profile.spec.args) if arg],
        launch=one(profile.spec.launch),
    )


def check_templates(profile: HarnessProfile, doc: YamlDocument) -> Iterator[Diagnostic]:
    """Compile and render each template against a sample context."""
    context = sample_context(profile)
    for loc, source in _templates(profile):
        where = ".".join(str(p) for p in loc)
        try:
            _ENV.from_string(source).render(context)
        except jinja2.TemplateSyntaxError as exc:
            yield doc.diagnostic(
                loc, "BC500", f"`{where}`: {exc.message} (template line {exc.lineno})"
            )
        except jinja2.UndefinedError as exc:
            yield doc.diagnostic(loc, "BC501", f"`{where}`: {exc.message}")
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            # sandbox refusals, filter errors, and errors raised by the expressions themselves
            yield doc.diagnostic(loc, "BC500", f"`{where}`: {exc}")
