"""indexes for experiment results: goal events by (workspace, event, time), assignments by
(experiment, variation, exposure time)

Revision ID: 0018
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_events_workspace_event_time", "events", ["workspace_id", "event", "timestamp"]
    )
    op.create_index(
        "ix_experiment_assignments_arm_time",
        "experiment_assignments",
        ["workspace_id", "experiment_id", "variation_id", "exposed_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_experiment_assignments_arm_time", table_name="experiment_assignments")
    op.drop_index("ix_events_workspace_event_time", table_name="events")
