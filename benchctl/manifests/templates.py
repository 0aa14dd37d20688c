"""Harness profile templates: Jinja2 in a sandbox, undefined variables are errors.

Templates come from manifests, i.e. from pull requests, so they run in a sandbox with a budget
(``benchctl.manifests.sandbox``). The variables they may use are the four mappings of
``TEMPLATE_VARIABLES``; docs/manifests.md lists their fields. The session key is for ``env``
only: ``launch`` and ``args`` are printed by `apply` and show in `ps`, so they render without
it, and a reference to it there is an error of its own.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import nodes

from benchctl.manifests.diagnostics import Diagnostic
from benchctl.manifests.models import HarnessProfile
from benchctl.manifests.sandbox import BudgetedSandbox, TemplateBudgetError, exhausted
from benchctl.manifests.yaml_source import PathSegment, YamlDocument

_ENV = BudgetedSandbox(undefined=jinja2.StrictUndefined, autoescape=False)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_SAMPLE_VALUE = {"string": "example", "integer": 1, "number": 1.0, "boolean": False}


@dataclass(frozen=True)
class RenderedHarness:
    """A harness profile rendered for one session: the operator runs ``command``."""

    env: dict[str, str]
    args: list[str]
    launch: str
    # (under, path) -> content, for `benchctl run` to write before the harness starts.
    files: dict[tuple[str, str], str] = field(default_factory=dict)
    version: str | None = None

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
        "workspace": "",
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
    for index, file in enumerate(profile.spec.files):
        yield ("spec", "files", index, "content"), file.content
    if profile.spec.version is not None:
        yield ("spec", "version"), profile.spec.version


def _without_key(context: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The context of ``launch`` and ``args``: the session without its key."""
    session = {k: v for k, v in context["session"].items() if k != "key"}
    return {**context, "session": session}


def _is_env(loc: tuple[PathSegment, ...]) -> bool:
    return loc[:2] == ("spec", "env")


def _is_file(loc: tuple[PathSegment, ...]) -> bool:
    """A file's content: lines of its own, never shown as a command."""
    return loc[:2] == ("spec", "files")


def render(profile: HarnessProfile, context: Mapping[str, Mapping[str, Any]]) -> RenderedHarness:
    """Render every template of ``profile``; raises jinja2 errors on bad templates."""
    printed = _without_key(context)
    return RenderedHarness(
        env={name: _ENV.render(value, context) for name, value in profile.spec.env.items()},
        # An argument that renders empty (a false `{% if %}`) is left out, not passed as "".
        args=[arg for arg in (_ENV.render(v, printed) for v in profile.spec.args) if arg],
        launch=_ENV.render(profile.spec.launch, printed),
        files={(f.under, f.path): _ENV.render(f.content, printed) for f in profile.spec.files},
        version=None
        if profile.spec.version is None
        else _ENV.render(profile.spec.version, printed),
    )


def _names_session_key(node: nodes.Node) -> bool:
    """``session.key`` or ``session['key']``."""
    if isinstance(node, nodes.Getattr):
        target, attr = node.node, node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        target, attr = node.node, node.arg.value
    else:
        return False
    return isinstance(target, nodes.Name) and target.name == "session" and attr == "key"


def _uses_session_key(source: str) -> bool:
    """Whether the template reads the session key, or hands over the whole ``session``
    mapping that holds it (``{{ session }}``, ``session|tojson``). Launch and args render
    without the key anyway; this check is for a clear error at its location."""
    tree = _ENV.parse(source)
    if any(_names_session_key(node) for node in tree.find_all((nodes.Getattr, nodes.Getitem))):
        return True
    # Every other use of `session` must pick one of its fields by a constant name.
    picked = {
        id(node.node) for node in tree.find_all(nodes.Getattr) if isinstance(node.node, nodes.Name)
    } | {
        id(node.node)
        for node in tree.find_all(nodes.Getitem)
        if isinstance(node.node, nodes.Name) and isinstance(node.arg, nodes.Const)
    }
    return any(
        name.name == "session" and id(name) not in picked for name in tree.find_all(nodes.Name)
    )


def check_templates(profile: HarnessProfile, doc: YamlDocument) -> Iterator[Diagnostic]:
    """Compile and render each template against a sample context."""
    context = sample_context(profile)
    for loc, source in _templates(profile):
        if exhausted():
            # Templates checked before took the repository's whole budget and were reported;
            # the repository is refused already, and the rest must not stall it further.
            return
        where = ".".join(str(p) for p in loc)
        try:
            if not _is_env(loc) and _uses_session_key(source):
                yield doc.diagnostic(
                    loc,
                    "BC504",
                    f"`{where}` uses the session key; it belongs in `env` only, since apply"
                    " prints the launch line, arguments show in `ps`, and files are read by"
                    " whatever the harness runs",
                )
                continue
            rendered = _ENV.render(source, context if _is_env(loc) else _without_key(context))
            if not _is_env(loc) and not _is_file(loc) and _CONTROL.search(rendered):
                yield doc.diagnostic(
                    loc,
                    "BC505",
                    f"`{where}` renders a control character (a newline, an escape); the launch"
                    " line is shell text an operator reads and runs",
                )
        except jinja2.TemplateSyntaxError as exc:
            yield doc.diagnostic(
                loc, "BC500", f"`{where}`: {exc.message} (template line {exc.lineno})"
            )
        except TemplateBudgetError as exc:
            yield doc.diagnostic(loc, "BC503", f"`{where}` goes over the template budget: {exc}")
        except jinja2.UndefinedError as exc:
            yield doc.diagnostic(loc, "BC501", f"`{where}`: {exc.message}")
        except RecursionError:
            yield doc.diagnostic(
                loc, "BC503", f"`{where}` goes over the template budget: recursion"
            )
        except MemoryError:
            yield doc.diagnostic(loc, "BC503", f"`{where}` goes over the template budget: memory")
        except Exception as exc:
            # Sandbox refusals, filter errors, and whatever the expressions raise themselves
            # (KeyError from str.format, LookupError from encode...).
            yield doc.diagnostic(loc, "BC500", f"`{where}`: {type(exc).__name__}: {exc}")
