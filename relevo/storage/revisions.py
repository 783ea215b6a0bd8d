"""Definitions that servers cache per workspace (merchandising rules, placements,
experiences) are stamped so a change is seen with one indexed read: ``updated_at`` rises
strictly within a workspace, so (count, latest update) changes whenever one is created,
replaced or deleted."""

from __future__ import annotations

from sqlalchemy import Connection, Table, func, select


def next_stamp(conn: Connection, table: Table, workspace_id: int, now_ms: int) -> int:
    """``now_ms``, or one past the workspace's latest ``updated_at`` if that is not later."""
    latest = conn.execute(
        select(func.max(table.c.updated_at)).where(table.c.workspace_id == workspace_id)
    ).scalar_one()
    return max(now_ms, int(latest or 0) + 1)
