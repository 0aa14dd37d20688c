"""A plan for people (terminal), for pull requests (Markdown) and for machines (JSON)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from benchctl.reconcile.plan import Action, ConfigDrift, Plan
from benchctl.render.text import printable

_STYLE = {"+": "green", "~": "yellow", "-/+": "magenta", "-": "red", "!": "bold red"}


def summary_line(plan: Plan) -> str:
    summary = plan.summary
    if not summary.changes:
        if not plan.keys_checked:
            return (
                "No changes. The benchmark database matches the manifests; the proxy's keys were"
                " not checked (no LiteLLM proxy configured)."
            )
        return "No changes. The benchmark database and the proxy match the manifests."
    text = (
        f"Plan: {summary.add} to add, {summary.change} to change, {summary.retire} to retire;"
        f" {summary.open} session{'s' if summary.open != 1 else ''} to open"
    )
    if summary.finalize:
        text += f", {summary.finalize} to finalize"
    if summary.abort:
        text += f", {summary.abort} to abort"
    if summary.repair:
        text += f"; {summary.repair} drift repair{'s' if summary.repair != 1 else ''}"
    return text + "."


def _title(action: Action) -> str:
    version = (
        f" v{action.version}" if action.version and action.kind not in ("Session", "Key") else ""
    )
    verb = {
        "open": "open session",
        "finalize": "finalize session",
        "abort": "abort session",
        "update_session": "update session",
        "rekey": "re-key session",
        "delete_key": "delete orphan key",
    }.get(action.action, action.kind)
    resumed = " (resume)" if action.resume else ""
    return f"{verb} {action.name}{version}{resumed}"


def _details(action: Action) -> list[str]:
    lines = [action.reason]
    if action.forced_by:
        lines.append("forces a new version: " + ", ".join(action.forced_by))
    elif action.changes:
        lines.append("changes: " + ", ".join(action.changes))
    return lines


def drift_lines(drift: ConfigDrift) -> list[str]:
    """The config drift warning: what differs, by variant, and how to fix it."""
    where = (
        "the local proxy (`benchctl up`) was started with"
        if drift.source == "local-stack"
        else "the LiteLLM proxy serves"
    )
    lines = [f"The LiteLLM config {where} differs from the one the manifests render:"]
    for label, names in (
        ("variants missing from the proxy", drift.added),
        ("model aliases the manifests no longer have", drift.removed),
        ("variants whose route or request settings changed", drift.changed),
    ):
        if names:
            lines.append(f"{label}: {', '.join(names)}")
    if drift.settings_changed:
        lines.append("proxy settings other than the models changed")
    lines.append(f"Sessions may be refused or measure the old settings; fix: {drift.fix}.")
    return lines


def sensitive_lines(plan: Plan) -> list[str]:
    """Every change of where a credential goes, named by its object."""
    return [f"{a.kind} {a.name}: {line}" for a in plan.actions for line in a.sensitive]


def to_text(plan: Plan, console: Console) -> None:
    for line in sensitive_lines(plan):
        console.print(f"[bold red]sensitive:[/bold red] {escape(line)}")
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if plan.config_drift is not None:
        first, *rest = drift_lines(plan.config_drift)
        console.print(f"[yellow]warning: config drift:[/yellow] {escape(first)}")
        for line in rest:
            console.print(f"    {escape(line)}")
    if plan.actions:
        console.print("benchctl will perform these actions:\n")
    for action in plan.actions:
        style = _STYLE[action.symbol]
        title = escape(printable(_title(action)))
        console.print(f"  [{style}]{action.symbol:>3}[/{style}] {title}")
        for line in _details(action):
            console.print(f"        [dim]{escape(printable(line))}[/dim]")
        for line in action.sensitive:
            console.print(f"        [bold red]sensitive: {escape(line)}[/bold red]")
    if plan.actions:
        console.print()
    console.print(f"[bold]{summary_line(plan)}[/bold]")


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(plan: Plan) -> str:
    """Summary first, for a PR comment; details in a table reviewers can scan."""
    lines = [f"**{summary_line(plan)}**", ""]
    desired = plan.desired
    if desired.manifest_commit:
        dirty = " (with uncommitted changes)" if desired.manifest_dirty else ""
        lines += [f"Manifests at `{desired.manifest_commit[:12]}`{dirty}.", ""]
    # Before anything else a reviewer reads: a credential that now goes to another host.
    lines += [f"> :rotating_light: **Sensitive.** {_cell(line)}" for line in sensitive_lines(plan)]
    if sensitive_lines(plan):
        lines.append("")
    lines += [f"> :warning: {warning}" for warning in plan.warnings]
    if plan.warnings:
        lines.append("")
    if plan.config_drift is not None:
        first, *rest = drift_lines(plan.config_drift)
        lines += [f"> :warning: **Config drift.** {first}", ">"]
        lines += [f"> - {line}" for line in rest[:-1]]
        lines += [">", f"> {rest[-1]}", ""]
    if plan.actions:
        lines += ["| | action | object | why |", "|---|---|---|---|"]
        for action in plan.actions:
            details = _details(action) + [f"**sensitive:** {line}" for line in action.sensitive]
            why = _cell("; ".join(details))
            lines.append(
                f"| `{action.symbol}` | {action.action} | {_cell(_title(action))} | {why} |"
            )
        lines.append("")
    lines.append(
        f"<sub>benchctl {plan.benchctl_version} · state serial {plan.serial}"
        f" · plan `{plan.fingerprint[:12]}`</sub>"
    )
    return "\n".join(lines) + "\n"


def to_json(plan: Plan) -> str:
    payload = plan.model_dump(mode="json")
    payload["fingerprint"] = plan.fingerprint
    payload["summary"]["line"] = summary_line(plan)
    return json.dumps(payload, indent=2, sort_keys=False) + "\n"
