"""A plan for people (terminal), for pull requests (Markdown) and for machines (JSON)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.markup import escape

from benchctl.reconcile.plan import Action, ConfigDrift, Plan
from benchctl.render.text import printable
from benchctl.report import units

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


def forecast_lines(plan: Plan) -> list[str]:
    """What the sessions to open should cost and take, and what each experiment can tell
    apart: one line for the summary, one per experiment."""
    f = plan.forecast
    if f is None:
        return []
    sessions = f"{f.sessions} session{'s' if f.sessions != 1 else ''}"
    if f.cost_usd is not None and f.cost_low_usd is not None and f.cost_high_usd is not None:
        basis = _basis(f.from_same_task, f.from_same_variant, f.from_tokens_at_prices)
        cost = (
            f"≈ {units.usd(f.cost_usd)} ({units.usd(f.cost_low_usd)} to"
            f" {units.usd(f.cost_high_usd)}, {basis}), at most {units.usd(f.ceiling_usd)}"
            " (budget ceiling)"
        )
    elif f.cost_high_usd is not None:
        cost = (
            f"at most {units.usd(f.ceiling_usd)} (budget ceiling); {f.without_history} with no"
            f" finished session of their variant to predict from, the rest"
            f" {_basis(f.from_same_task, f.from_same_variant, f.from_tokens_at_prices)}"
        )
    else:
        cost = (
            f"at most {units.usd(f.ceiling_usd)} (budget ceiling: no finished session of their"
            " variants to predict from)"
        )
    hours = f"≈ {units.number(f.hours)} h of sessions" if f.hours is not None else "time unknown"
    lines = [f"Forecast: {sessions}, {cost}; {hours} (their timeboxes allow"
             f" {units.number(f.hours_ceiling)} h)."]  # fmt: skip
    for e in f.experiments:
        if e.mde_success_rate is None or e.mde_with_more_task_cards is None:
            continue
        lines.append(
            f"{e.experiment}: {e.task_cards} task card(s) x {e.replicates} replicate(s) can tell"
            f" apart success-rate differences ≥ {_points(e.mde_success_rate)};"
            f" {e.more_task_cards} more task cards would bring that to"
            f" {_points(e.mde_with_more_task_cards)}."
        )
    return lines


def _basis(same_task: int, same_variant: int, tokens: int) -> str:
    parts = []
    if same_task:
        parts.append(f"{same_task} from finished sessions of the same variant and task card")
    if same_variant:
        parts.append(f"{same_variant} from the variant's sessions on other task cards")
    if tokens:
        parts.append(f"{tokens} from other variants' tokens on the task card at its prices")
    return "; ".join(parts)


def _points(value: float) -> str:
    return f"{value * 100:.0f} points"


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
    for line in forecast_lines(plan):
        console.print(escape(line))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(plan: Plan) -> str:
    """Summary first, for a PR comment; details in a table reviewers can scan."""
    lines = [f"**{summary_line(plan)}**", ""]
    forecast = forecast_lines(plan)
    if forecast:
        lines += [*forecast[:1], *(f"- {line}" for line in forecast[1:]), ""]
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
