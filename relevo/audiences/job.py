"""The audience job: every few seconds, in the process that holds the materializer's lease,
judge again the profiles updated since its last run (and, once an hour, every profile: time
alone moves people, e.g. into "lapsed" or "cart abandoner"), record `Audience Entered` /
`Audience Exited` for the differences with who was in each audience, built-in and saved alike
(in every workspace with profiles), and post a saved audience's changes to its webhook
(Standard Webhooks 1.0 signatures, retried with back-off; a built-in one has none). Never in
the materializer's per-event path: ingest speed does not depend on how many audiences there
are.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import urllib.error
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from standardwebhooks.webhooks import Webhook

from relevo.audiences.changes import (
    Change,
    differences,
    next_attempt,
    system_event,
    webhook_message,
)
from relevo.audiences.model import Audience
from relevo.audiences.records import MembershipSource
from relevo.audiences.service import Audiences, reads_interests
from relevo.audiences.vectorised import Vectorised
from relevo.audiences.webhook_urls import WebhookSender
from relevo.runtime import background_thread_priority

log = logging.getLogger(__name__)

FULL_SWEEP_MS = 3_600_000
SLACK_MS = 2_000  # a profile saved while the last run read is judged again, not missed
JOB_SECONDS = 2.0
LEASE_SECONDS = 10.0
MAX_DELIVERIES_PER_RUN = 200
RECORD_BATCH = 1000
CHUNK_PROFILES = 5000
# A sweep of every profile waits as long as each chunk took before the next one: it uses at
# most half a core, so on a small machine the requests beside it keep the other cores.
PACE = 1.0
Sender = Callable[[str, bytes, Mapping[str, str]], None]
# Called between chunks with the seconds the last one took; False: stop this run now.
BetweenChunks = Callable[[float], bool]


class LeaseLost(Exception):
    """Another process holds the job's lease now: this run stops before recording more."""


@dataclass
class JobReport:
    judged: int = 0
    entered: int = 0
    exited: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    stopped: bool = False  # the lease was lost mid-run: nothing after that point was recorded


class AudienceJob:
    def __init__(
        self, audiences: Audiences, store: MembershipSource, sender: Sender | None = None
    ) -> None:
        self.audiences = audiences
        self.store = store
        # Public addresses only, checked again at each delivery (relevo.audiences.webhook_urls).
        self.sender = sender or WebhookSender(allow_private=False)
        self._last_full: int | None = None
        self._lock = threading.Lock()
        self.chunk = CHUNK_PROFILES
        # Built-in audiences never change while the process runs: vectorised once.
        extensions = audiences.compiler.extensions
        self._builtins = [(a, Vectorised(a.condition, extensions)) for a in audiences.builtins]

    def run_once(
        self, now_ms: int | None = None, between_chunks: BetweenChunks | None = None
    ) -> JobReport:
        """One run. ``between_chunks`` (the job's thread: renew the lease, pace the sweep) is
        called before every chunk of profiles but the first; when it answers False the run
        stops there, without moving the checkpoint, and the next holder judges again."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        report = JobReport()
        with self._lock:
            try:
                self._run(now, report, between_chunks)
            except LeaseLost:
                report.stopped = True
        return report

    def _run(self, now: int, report: JobReport, between_chunks: BetweenChunks | None) -> None:
        since = self.store.job_checkpoint()
        full = self._last_full is None or now - self._last_full >= FULL_SWEEP_MS
        for workspace_id in self.store.workspaces_with_profiles():
            # A changed definition moves people whose profile did not change: all again.
            changed = max(
                (row.updated_at for row in self.audiences.store.saved(workspace_id)),
                default=0,
            )
            everyone = full or changed > since - SLACK_MS
            self._judge(
                workspace_id,
                now,
                None if everyone else since - SLACK_MS,
                report,
                between_chunks,
            )
        self.store.set_job_checkpoint(now)
        if full:
            self._last_full = now
        self.deliver(now, report)

    def _judge(
        self,
        workspace_id: int,
        now: int,
        changed_since: int | None,
        report: JobReport,
        between_chunks: BetweenChunks | None = None,
    ) -> None:
        saved = self.audiences.saved(workspace_id)
        extensions = self.audiences.compiler.extensions
        compiled = [*self._builtins, *((a, Vectorised(a.condition, extensions)) for a in saved)]
        if not compiled:
            return
        interests = any(reads_interests(a.condition) for a, _ in compiled)
        judged = {a.id for a, _ in compiled}
        by_id = {a.id: a for a, _ in compiled}
        # No reads ahead: a sweep is background work, paced between chunks (the database's
        # own processes would otherwise extract the next chunks at full speed meanwhile).
        chunks = self.audiences.store.profile_chunks(
            workspace_id, chunk=self.chunk, changed_since=changed_since, read_ahead=False
        )
        started = time.monotonic()
        with closing(chunks):  # a stopped run closes the reads in flight too
            for index, rows in enumerate(chunks):
                took = time.monotonic() - started
                if index and between_chunks is not None and not between_chunks(took):
                    raise LeaseLost()
                started = time.monotonic()
                table = self.audiences._table(workspace_id, rows, now, interests)
                members: dict[int, set[str]] = {r.profile_id: set() for r in rows}
                for audience, vectorised in compiled:
                    for row, hit in zip(rows, vectorised.mask(table), strict=True):
                        if hit:
                            members[row.profile_id].add(audience.id)
                report.judged += len(rows)
                self.store.adopt_merged_members(workspace_id, list(members))
                before = self.store.members_of(workspace_id, list(members))
                changes = differences(before, members, judged)
                # Transactions of RECORD_BATCH changes: each holds the ingest lock (SQLite:
                # the only writer) while its events are appended, and a first sweep records
                # several per person (new-visitor, customer...).
                for start in range(0, len(changes), RECORD_BATCH):
                    batch = changes[start : start + RECORD_BATCH]
                    self._record(workspace_id, now, batch, by_id, report)

    def _record(
        self,
        workspace_id: int,
        now: int,
        changes: list[Change],
        audiences: Mapping[str, Audience],
        report: JobReport,
    ) -> None:
        # Only saved audiences have webhooks: a built-in's changes are events alone.
        hooked = {c for c in changes if audiences[c.audience_id].webhook_url is not None}
        names = self.audiences.identities(sorted({c.profile_id for c in hooked}))
        events = [
            (c.profile_id, system_event(c, audiences[c.audience_id].name, now)) for c in changes
        ]
        deliveries = [
            {
                "workspace_id": workspace_id,
                "audience_id": c.audience_id,
                "profile_id": c.profile_id,
                "message_id": f"msg_{event['messageId'].rsplit('-', 1)[-1]}",
                "payload": webhook_message(
                    c, audiences[c.audience_id].name, now, names.get(c.profile_id, {})
                ),
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for c, (_, event) in zip(changes, events, strict=True)
            if c in hooked
        ]
        self.store.record_changes(
            workspace_id,
            now,
            [(c.audience_id, c.profile_id) for c in changes if c.entered],
            [(c.audience_id, c.profile_id) for c in changes if not c.entered],
            events,
            deliveries,
        )
        report.entered += sum(c.entered for c in changes)
        report.exited += sum(not c.entered for c in changes)

    def deliver(self, now: int, report: JobReport | None = None) -> JobReport:
        """Post the deliveries that are due; a failure is tried again after its back-off."""
        report = report or JobReport()
        for due in self.store.due_deliveries(now, MAX_DELIVERIES_PER_RUN):
            body = orjson.dumps(due["payload"])
            error = None
            try:
                if not due["webhook_url"] or not due["webhook_secret"]:
                    raise ValueError("the audience has no webhook any more")
                signer = Webhook(due["webhook_secret"])
                at = datetime.fromtimestamp(now / 1000, UTC)
                headers = {
                    "content-type": "application/json",
                    "webhook-id": due["message_id"],
                    "webhook-timestamp": str(now // 1000),
                    "webhook-signature": signer.sign(due["message_id"], at, body.decode()),
                }
                self.sender(due["webhook_url"], body, headers)
            except (urllib.error.URLError, OSError, ValueError) as e:
                error = f"{type(e).__name__}: {e}"[:500]
            except Exception as e:  # a webhook must never stop the job
                error = f"{type(e).__name__}: {e}"[:500]
            retry = None if error is None else next_attempt(due["attempts"] + 1, now)
            self.store.delivery_attempted(due["id"], now, error, retry)
            if error is None:
                report.delivered += 1
            elif retry is None:
                report.failed += 1
            else:
                report.retried += 1
        return report


class AudienceJobThread:
    """Runs the job every JOB_SECONDS in the one process (of all the server's workers) that
    holds the job's lease; a lease not renewed for LEASE_SECONDS passes to another."""

    def __init__(self, job: AudienceJob) -> None:
        self.job = job
        self.owner = f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relevo-audiences", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:  # another worker takes over now, not after LEASE_SECONDS
            self.job.store.release_job_lease(self.owner)
        except Exception:
            log.exception("releasing the audience job's lease failed; it expires by itself")

    def between_chunks(self, seconds: float) -> bool:
        """Keep the lease through a long run (or learn it is lost: then stop, so two processes
        never record the same change) and pace the sweep. False also when stopping."""
        if self._stop.wait(min(seconds * PACE, LEASE_SECONDS / 4)):
            return False
        return self.job.store.try_job_lease(self.owner, int(time.time() * 1000), LEASE_SECONDS)

    def _run(self) -> None:
        background_thread_priority()  # behind request handling when the cores are busy
        while not self._stop.wait(JOB_SECONDS):
            try:
                now = int(time.time() * 1000)
                if self.job.store.try_job_lease(self.owner, now, LEASE_SECONDS):
                    self.job.run_once(between_chunks=self.between_chunks)
            except Exception:
                log.exception("the audience job failed; it runs again in %s s", JOB_SECONDS)
