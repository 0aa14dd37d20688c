"""Carrying out a plan, in an order that a crash at any point leaves resumable.

Objects change in one transaction. Each session moves through recorded steps:

    open:     row 'opening' → (old key with our alias deleted) → key → env file → row 'open'
    finalize: row 'finalizing' + outcome → key deleted → env file removed → row 'finalized'

A killed apply leaves a row in an in-between state or a key the next plan accounts for; the next
apply resumes from there. The key alias is derived from the session id, so a resumed open
finds (and replaces) any key its predecessor made before it could record it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql
from psycopg.types.json import Jsonb

from benchctl.db.connection import Connection
from benchctl.db.queries import query
from benchctl.errors import PlanError
from benchctl.litellm.client import LiteLLMClient
from benchctl.manifests.models import Experiment
from benchctl.manifests.models.common import duration_seconds
from benchctl.manifests.models.experiment import SessionPolicy
from benchctl.reconcile import failpoints
from benchctl.reconcile.desired import DesiredSession
from benchctl.reconcile.ending import Ending, end_session
from benchctl.reconcile.envfile import SessionInfo, SessionManifests
from benchctl.reconcile.keys import KeyRequest, issue_key
from benchctl.reconcile.plan import Action, Plan
from benchctl.reconcile.provenance import operator
from benchctl.settings import Settings

TABLES = {
    "Provider": "providers",
    "HarnessProfile": "harness_profiles",
    "TaskCard": "task_cards",
    "Variant": "variants",
    "Experiment": "experiments",
}
OBJECT_ACTIONS = ("create", "update", "replace", "retire")


@dataclass(frozen=True)
class OpenedSession:
    label: str
    session_id: str
    env_file: Path
    command: str


@dataclass
class ApplyResult:
    done: int = 0
    opened: list[OpenedSession] = field(default_factory=list)


@dataclass
class Applier:
    conn: Connection
    client: LiteLLMClient | None
    settings: Settings
    plan: Plan
    on_action: Callable[[Action], None] = lambda action: None
    result: ApplyResult = field(default_factory=ApplyResult)

    @property
    def _needs_proxy(self) -> list[Action]:
        return [a for a in self.plan.actions if a.action not in OBJECT_ACTIONS]

    def check(self) -> None:
        """Refuse, before anything changes, a plan this apply cannot carry out."""
        needs_proxy = self._needs_proxy
        if needs_proxy and (self.client is None or self.settings.proxy_url is None):
            raise PlanError(
                f"{len(needs_proxy)} session or key action(s) need the LiteLLM proxy, and none"
                " is configured: set BENCHCTL_PROXY_URL and BENCHCTL_PROXY_MASTER_KEY."
                " Nothing was applied."
            )

    def run(self, operation: str = "apply") -> ApplyResult:
        self.check()
        needs_proxy = self._needs_proxy
        log_id = self._log_start(operation)
        failpoints.reached("apply.started")
        try:
            self._objects([a for a in self.plan.actions if a.action in OBJECT_ACTIONS])
            for action in needs_proxy:
                self._session_or_key(action)
                self.result.done += 1
                self.on_action(action)
        except BaseException as exc:
            self.conn.execute(
                query("state.log_finish"),
                {"id": log_id, "status": "failed", "error": str(exc) or type(exc).__name__},
            )
            raise
        self.conn.execute(
            query("state.log_finish"), {"id": log_id, "status": "succeeded", "error": None}
        )
        return self.result

    def _log_start(self, operation: str) -> int:
        with self.conn.transaction():
            # Any plan saved before this apply is stale from here on, even if this one fails.
            self.conn.execute(query("state.bump_serial"))
            self.conn.execute(query("state.log_interrupted"))
            row = self.conn.execute(
                query("state.log_start"),
                {
                    "operation": operation,
                    "operator": operator(),
                    "manifest_commit": self.plan.desired.manifest_commit,
                    "fingerprint": self.plan.fingerprint,
                    "summary": Jsonb(self.plan.summary.model_dump()),
                },
            ).fetchone()
        assert row is not None
        return int(row["id"])

    # -- objects: all or nothing ---------------------------------------------------------------

    def _objects(self, actions: list[Action]) -> None:
        if not actions:
            return
        desired = self.plan.desired
        commit = desired.manifest_commit
        with self.conn.transaction(), self.conn.cursor() as cur:
            for kind, table in TABLES.items():
                ident = {"table": sql.Identifier(table)}
                mine = [a for a in actions if a.kind == kind]
                retired = [a for a in mine if a.action in ("retire", "replace")]
                written = [a for a in mine if a.action != "retire"]
                cur.executemany(
                    query("state.retire_object").format(**ident),
                    [
                        {"name": a.name, "version": (a.version or 1) - (a.action == "replace")}
                        for a in retired
                    ],
                )
                rows = []
                for a in written:
                    obj = desired.get(kind, a.name)  # type: ignore[arg-type]
                    rows.append(
                        {
                            "name": a.name,
                            "version": a.version,
                            "spec": Jsonb(obj.document),
                            "content_hash": obj.content_hash,
                            "comparable": Jsonb(obj.comparable),
                            "git_commit": commit,
                        }
                    )
                inserts = [r for r, a in zip(rows, written, strict=True) if a.action != "update"]
                updates = [r for r, a in zip(rows, written, strict=True) if a.action == "update"]
                cur.executemany(query("state.insert_object").format(**ident), inserts)
                cur.executemany(query("state.update_object").format(**ident), updates)
        failpoints.reached("objects.applied")
        for action in actions:
            self.result.done += 1
            self.on_action(action)

    # -- sessions and keys: step by step ---------------------------------------------------------

    def _session_or_key(self, action: Action) -> None:
        if action.action == "open":
            self._open(action)
        elif action.action in ("finalize", "abort"):
            self._end(action)
        elif action.action == "rekey":
            self._rekey(action)
        elif action.action == "update_session":
            entry = self._entry(action)
            self.conn.execute(
                query("sessions.update_record"),
                {
                    "id": action.session_id,
                    "outcome": entry.outcome,
                    "source": entry.source,
                    "notes": entry.notes,
                    "verification_id": action.verification_id,
                },
            )
        elif action.action == "delete_key":
            assert self.client is not None
            if action.key_token:
                self.client.delete_keys(tokens=[action.key_token])
            else:
                self.client.delete_keys(aliases=[action.key_alias or ""])

    def _entry(self, action: Action) -> DesiredSession:
        for entry in self.plan.desired.sessions:
            if entry.id == action.session_id:
                return entry
        raise PlanError(f"session {action.name} is not in the plan's manifests")

    def _manifests(self, entry: DesiredSession) -> SessionManifests:
        desired = self.plan.desired
        variant = desired.get("Variant", entry.variant).document
        return SessionManifests.from_documents(
            {
                "variant": variant,
                "provider": desired.get("Provider", variant["spec"]["provider"]).document,
                "harness_profile": desired.get(
                    "HarnessProfile", variant["spec"]["harness_profile"]
                ).document,
                "task_card": desired.get("TaskCard", entry.task_card).document,
            }
        )

    def _policy(self, entry: DesiredSession) -> SessionPolicy:
        document = self.plan.desired.get("Experiment", entry.experiment).document
        return Experiment.model_validate(document).spec.session_policy

    def _open(self, action: Action) -> None:
        assert self.client is not None and self.settings.proxy_url is not None
        entry = self._entry(action)
        manifests = self._manifests(entry)
        policy = self._policy(entry)
        alias = action.key_alias or ""
        desired = self.plan.desired
        self.conn.execute(
            query("sessions.insert"),
            {
                "id": entry.id,
                "experiment": entry.experiment,
                "variant": entry.variant,
                "variant_version": action.variant_version,
                "task_card": entry.task_card,
                "task_card_version": action.task_card_version,
                "harness_profile": manifests.harness_profile.metadata.name,
                "replicate": entry.replicate,
                "notes": entry.notes,
                "headless": entry.headless,
                "key_alias": alias,
                "budget_usd": policy.budget_usd,
                "ttl_seconds": duration_seconds(policy.ttl),
                "manifest_commit": desired.manifest_commit,
                "manifest_dirty": desired.manifest_dirty,
                "repo_path": desired.repo_path,
                "operator": operator(),
            },
        )
        failpoints.reached("open.row_inserted")
        # A predecessor killed after creating the key left it unrecorded and its raw value
        # lost: replace it. Deleting by alias is a no-op when there is none.
        self.client.delete_keys(aliases=[alias])
        failpoints.reached("open.old_key_deleted")
        self._issue_key(action, entry, manifests, policy, "open")

    def _issue_key(
        self,
        action: Action,
        entry: DesiredSession,
        manifests: SessionManifests,
        policy: SessionPolicy,
        step: str,
    ) -> None:
        assert self.client is not None
        request = KeyRequest(
            session=SessionInfo(
                entry.id, action.key_alias or "", entry.experiment, entry.replicate
            ),
            variant_version=action.variant_version,
            task_card_version=action.task_card_version,
            ttl_seconds=duration_seconds(policy.ttl),
            budget_usd=policy.budget_usd,
        )
        issued = issue_key(self.conn, self.client, self.settings, request, manifests, step)
        self.result.opened.append(
            OpenedSession(action.name, issued.session_id, issued.env_file, issued.command)
        )

    def _end(self, action: Action) -> None:
        assert self.client is not None
        finalize = action.action == "finalize"
        entry = next((e for e in self.plan.desired.sessions if e.id == action.session_id), None)
        ending = Ending(
            session_id=action.session_id or "",
            key_alias=action.key_alias or "",
            finalize=finalize,
            outcome=entry.outcome if entry else None,
            source=entry.source if entry else None,
            notes=entry.notes if entry else None,
            verification_id=action.verification_id,
        )
        end_session(self.conn, self.client, self.settings, ending)

    def _rekey(self, action: Action) -> None:
        assert self.client is not None
        entry = self._entry(action)
        self.conn.execute(query("sessions.forget_key"), {"id": entry.id})
        failpoints.reached("rekey.forgotten")
        self.client.delete_keys(aliases=[action.key_alias or ""])
        failpoints.reached("rekey.old_key_deleted")
        self._issue_key(action, entry, self._manifests(entry), self._policy(entry), "rekey")
