"""Quarantined messages: kept for a while for the shop to inspect, then purged."""

from __future__ import annotations

from sqlalchemy import delete, select

from relevo.storage import schema as t
from relevo.storage.database import Database

PURGE_BATCH = 5000


class QuarantineStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def purge(self, received_before_ms: int) -> int:
        """Delete messages quarantined before the cutoff, a batch per transaction (so the
        ingest lock is never held long); returns how many went."""
        q, qi = t.quarantine.c, t.quarantine_identities.c
        total = 0
        while True:
            with self.db.write() as conn:
                ids = list(
                    conn.execute(
                        select(q.id).where(q.received_at < received_before_ms).limit(PURGE_BATCH)
                    ).scalars()
                )
                if not ids:
                    return total
                conn.execute(delete(t.quarantine_identities).where(qi.quarantine_id.in_(ids)))
                total += conn.execute(delete(t.quarantine).where(q.id.in_(ids))).rowcount
