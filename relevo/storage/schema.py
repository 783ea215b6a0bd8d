"""The tables. Every row belongs to a workspace; times are integer epoch milliseconds."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid), so big ids are INTEGER there.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
# Profile state is rewritten whole on every update and read whole: PostgreSQL's plain json
# (stored as text) costs a fraction of jsonb's parse on each write.
StateJson = JSON()

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("secret_key_hash", String(64), nullable=False, unique=True),
    # HMAC keys, in clear because verifying a signature needs them: user hashes and identity
    # tokens made by the shop's backend, e-mail-link tokens made by Relevo, and the keyed hash
    # of suppressed (erased, never to be stored again) identities.
    Column("identity_secret", String(64), nullable=False),
    Column("link_secret", String(64), nullable=False),
    Column("suppression_key", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Segment's model: each client that sends events is a source with its own write key. A browser
# key is public (it is in every page); a server key is kept on the shop's servers and trusted.
sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("kind", String(10), nullable=False),  # browser | server
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_hint", String(16), nullable=False),  # the first characters, to tell keys apart
    Column("public_key", String(64), nullable=True),  # browser keys only: public anyway
    Column("created_at", BigInteger, nullable=False),
    Column("rotated_at", BigInteger, nullable=True),
    # Browser sources: a JSON list of the origins whose pages may use the key (CORS).
    Column("allowed_origins", JSON, nullable=True),
    UniqueConstraint("workspace_id", "name", name="uq_sources_name"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Set when this profile was merged into another; its events and identities moved there.
    Column("merged_into", BigInteger, nullable=True),
    # Bumped by a merge; the materializer rebuilds computed state until built_gen catches up.
    Column("rebuild_gen", Integer, nullable=False, server_default="0"),
    Column("built_gen", Integer, nullable=False, server_default="0"),
    Column("traits", StateJson, nullable=False),
    Column("trait_times", StateJson, nullable=False),
    Column("computed", StateJson, nullable=False),
    Index("ix_profiles_workspace", "workspace_id"),
    Index("ix_profiles_merged_into", "merged_into"),
    # Holds only profiles waiting for a rebuild, so the materializer's idle poll for them is
    # an index probe, not a scan of every profile (a quarter of a core at 100,000 profiles).
    Index(
        "ix_profiles_awaiting_rebuild",
        "id",
        sqlite_where=text("rebuild_gen > built_gen"),
        postgresql_where=text("rebuild_gen > built_gen"),
    ),
    # A workspace's surviving profiles in id order: whole-workspace reads (audience previews,
    # members, the audience job) page through it whatever the planner's statistics say.
    Index(
        "ix_profiles_workspace_survivors",
        "workspace_id",
        "id",
        sqlite_where=text("merged_into IS NULL"),
        postgresql_where=text("merged_into IS NULL"),
    ),
    sqlite_autoincrement=True,  # an erased profile's id is never reused
    # Free space on each page lets PostgreSQL update a profile in place (HOT: no index writes).
    postgresql_with={"fillfactor": 70},
)

identities = Table(
    "identities",
    metadata,
    # Key order (value, kind, workspace): the selective column first, as for events.
    Column("value", String(255), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("workspace_id", Integer, primary_key=True),
    Column("profile_id", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_identities_profile", "profile_id"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("profile_id", BigInteger, nullable=False),
    Column("type", String(16), nullable=False),
    Column("event", String(255), nullable=True),
    Column("anonymous_id", String(255), nullable=True),
    Column("user_id", String(255), nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("payload", Json, nullable=False),
    # False when a public (browser) key sent it: its group call is then a claim, not a membership.
    Column("trusted", Boolean, nullable=False, server_default=true()),
    # Selective column first: plans stay index lookups even before the planner has statistics.
    UniqueConstraint("message_id", "workspace_id", name="uq_events_message"),
    Index("ix_events_profile_time", "profile_id", "timestamp"),
    # An experiment's goal events (Order Completed...) over a period (migration 0018).
    Index("ix_events_workspace_event_time", "workspace_id", "event", "timestamp"),
    # ix_events_group (group calls by groupId) is an expression index that differs between the
    # two databases: it is created by migration 0004 only.
    # Never reuse a seq: the profile materializer's checkpoint assumes seq only grows.
    sqlite_autoincrement=True,
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("source", String(40), nullable=False),
    Column("position", Integer, nullable=True),
    Column("reason", Text, nullable=False),
    Column("message_id", String(255), nullable=True),
    Column("anonymous_id", String(255), nullable=True),
    Column("user_id", String(255), nullable=True),
    Column("email", String(255), nullable=True),
    Column("payload", Text, nullable=False),
    Index("ix_quarantine_workspace", "workspace_id", "received_at"),
    Index("ix_quarantine_received", "received_at"),  # retention purge across workspaces
)

# Every identity a quarantined message names (whatever its kind), so an erasure finds it.
quarantine_identities = Table(
    "quarantine_identities",
    metadata,
    Column("value", String(255), primary_key=True),
    Column("kind", String(40), primary_key=True),
    Column("workspace_id", Integer, primary_key=True),
    Column("quarantine_id", BigInteger, primary_key=True),
    Index("ix_quarantine_identities_row", "quarantine_id"),
)

# Identities a public key asserted without proof, with the profile of the message that did.
claims = Table(
    "claims",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("profile_id", BigInteger, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("value", String(255), nullable=False),
    Column("reason", String(40), nullable=False),
    Column("message_id", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("profile_id", "kind", "value", "reason", name="uq_claims"),
    Index("ix_claims_identity", "value", "kind", "workspace_id"),
)

# Profiles erased, so servers forget them in loaded models and training never publishes them.
erasures = Table(
    "erasures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("profile_id", BigInteger, nullable=False),
    Column("erased_at", BigInteger, nullable=False),
    Index("ix_erasures_workspace", "workspace_id", "erased_at"),
)

# Keyed hashes (HMAC with the workspace's suppression key) of identities erased with
# suppression: later messages naming them are refused and counted, never stored.
suppressions = Table(
    "suppressions",
    metadata,
    Column("identity_hash", String(64), primary_key=True),
    Column("workspace_id", Integer, primary_key=True),
    Column("created_at", BigInteger, nullable=False),
    Column("refused", BigInteger, nullable=False, server_default="0"),
)

merges = Table(
    "merges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("survivor_id", BigInteger, nullable=False),
    Column("merged_id", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # merged | refused
    Column("reason", String(255), nullable=False),
    Column("identities", Json, nullable=False),
    Column("message_id", String(255), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_merges_survivor", "survivor_id"),
    Index("ix_merges_merged", "merged_id"),
)

trait_changes = Table(
    "trait_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("profile_id", BigInteger, nullable=False),
    Column("trait", String(255), nullable=False),
    Column("old_value", Json, nullable=True),
    Column("new_value", Json, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("message_id", String(255), nullable=True),
    Index("ix_trait_changes_profile", "profile_id"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

products = Table(
    "products",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("product_id", String(255), primary_key=True),
    Column("sku", String(255), nullable=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("brand", String(255), nullable=True),
    Column("category", String(2000), nullable=False),  # path joined with " > "
    Column("price", String(40), nullable=True),  # decimal as text: exact on both databases
    Column("sale_price", String(40), nullable=True),
    Column("currency", String(3), nullable=True),
    Column("availability", String(20), nullable=False),
    Column("stock_quantity", BigInteger, nullable=True),
    Column("image_url", Text, nullable=True),
    Column("url", Text, nullable=True),
    Column("item_group_id", String(255), nullable=True),
    Column("attributes", Json, nullable=False),
    Column("source", String(10), nullable=False),  # catalog | events
    # Deleted rows stay (as tombstones) so servers see the deletion when they refresh stock.
    Column("deleted", Integer, nullable=False, server_default="0"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Serving refreshes stock from the rows changed since its last look.
    Index("ix_products_updated", "workspace_id", "updated_at"),
)

# -- merchandising rules (relevo.rules; migration 0007) --

# A rule as saved (relevo.rules.model); `audience_id` is copied out of the definition so that
# deleting an audience can list the rules that use it. `updated_at` rises strictly within a
# workspace, so servers see any change by reading (count, max(updated_at)).
merchandising_rules = Table(
    "merchandising_rules",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("rule_id", String(64), primary_key=True),
    Column("definition", Json, nullable=False),
    Column("audience_id", String(255), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_merchandising_rules_audience", "workspace_id", "audience_id"),
)

# -- audiences (relevo.audiences; migration 0008) --

# Saved audiences (the built-in ones are code, relevo.audiences.builtins): a condition over
# people, stored as written and validated when saved.
audiences = Table(
    "audiences",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("audience_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("condition", Json, nullable=False),
    # Entered/Exited are posted here, signed with the secret (Standard Webhooks: whsec_...).
    Column("webhook_url", Text, nullable=True),
    Column("webhook_secret", String(80), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Who was in each saved audience when the audience job last judged them: the job records
# `Audience Entered` / `Audience Exited` for the differences.
audience_members = Table(
    "audience_members",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("audience_id", String(64), primary_key=True),
    Column("profile_id", BigInteger, primary_key=True),
    Column("entered_at", BigInteger, nullable=False),
    Index("ix_audience_members_profile", "profile_id"),
)

# The audience job (one row): which process runs it (a worker holds it while it renews it),
# and the time up to which profile updates were judged (its own row, not in `checkpoints`,
# whose only row other code reads as the materializer's).
audience_job_lease = Table(
    "audience_job_lease",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("until", BigInteger, nullable=False),
    Column("judged_until", BigInteger, nullable=False),
)

# Webhook deliveries of Entered/Exited, retried with back-off, kept to be shown.
audience_deliveries = Table(
    "audience_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("audience_id", String(64), nullable=False),
    Column("profile_id", BigInteger, nullable=False),
    Column("message_id", String(64), nullable=False),  # the webhook-id header
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Index("ix_audience_deliveries_due", "status", "next_attempt_at"),
    Index("ix_audience_deliveries_audience", "workspace_id", "audience_id", "id"),
    Index("ix_audience_deliveries_profile", "profile_id"),
)

# -- B2B account terms: assortments and price lists (migration 0009) --

# What an account (a group id) may buy: products by id and whole category paths; an account
# without a row sees the whole catalog.
account_assortments = Table(
    "account_assortments",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("group_id", String(255), primary_key=True),
    Column("product_ids", Json, nullable=False),
    Column("categories", Json, nullable=False),  # paths joined with " > "
    Column("updated_at", BigInteger, nullable=False),
)

# The agreed price of a product for an account (decimal as text, as products.price).
account_prices = Table(
    "account_prices",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("group_id", String(255), primary_key=True),
    Column("product_id", String(255), primary_key=True),
    Column("price", String(40), nullable=False),
    Column("currency", String(3), nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_account_prices_updated", "workspace_id", "updated_at"),
)

# -- profile scores (migration 0010) --

# What `relevo train` computed for each customer (relevo.scores): their automatic segment, the
# propensity to buy, the lifetime value. One row per profile, replaced by each training;
# conditions read them as segment.id, segment.label, propensity.purchase_30d, ...
profile_scores = Table(
    "profile_scores",
    metadata,
    Column("profile_id", BigInteger, primary_key=True),
    Column("workspace_id", Integer, nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("segment_id", String(20), nullable=True),  # None: a prospect (no order yet)
    Column("segment_label", String(200), nullable=True),
    Column("purchase_30d", Float, nullable=True),  # P(an order in the next 30 days)
    Column("churn_90d", Float, nullable=True),  # P(no order in the next 90 days)
    Column("clv_next_12m", Float, nullable=True),  # expected revenue in the next 12 months
    Column("computed_at", BigInteger, nullable=False),
    Index("ix_profile_scores_workspace", "workspace_id", "segment_id"),
)

# -- placements and experiences (relevo.experiences; migration 0014) --

# Slots on a site or in a channel, and what fills them; each definition as saved (validated,
# defaults filled in). Servers cache a workspace's and look for changes by (count, latest
# updated_at) of each table, as with merchandising rules.
placements = Table(
    "placements",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("placement_id", String(64), primary_key=True),
    Column("definition", Json, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

experiences = Table(
    "experiences",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("experience_id", String(64), primary_key=True),
    Column("placement_id", String(64), nullable=False),
    Column("audience_id", String(64), nullable=True),  # its own and its blocks', for deletes
    Column("definition", Json, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Index("ix_experiences_placement", "workspace_id", "placement_id"),
    Index("ix_experiences_audience", "workspace_id", "audience_id"),
)

# What went wrong when a decision tried an experience (a template that failed, an empty
# recommendation block): the decision fell back, an admin reads these. Kept per experience
# up to MAX_ERRORS_KEPT (relevo.storage.experience_store).
experience_errors = Table(
    "experience_errors",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("workspace_id", Integer, nullable=False),
    Column("experience_id", String(64), nullable=False),
    Column("variant_id", String(64), nullable=True),
    Column("placement_id", String(64), nullable=False),
    Column("code", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index("ix_experience_errors", "workspace_id", "experience_id", "id"),
)

# -- decisions: exposure counters and refused tokens (migration 0015) --

# How often an experience was shown to a visitor, for its frequency caps: per visitor key (a
# keyed hash of the anonymous id, or the profile id), lifetime, the current UTC day and the
# current session (keyed by its start). Exposures are system events that move no behaviour
# counter, so they are counted here.
experience_exposures = Table(
    "experience_exposures",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("visitor", String(64), primary_key=True),
    Column("experience_id", String(64), primary_key=True),
    Column("lifetime", Integer, nullable=False),
    Column("first_at", BigInteger, nullable=False),
    Column("last_at", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),
    Column("day_count", Integer, nullable=False),
    Column("session_key", BigInteger, nullable=False),
    Column("session_count", Integer, nullable=False),
)

# Decision tokens refused by POST /v1/decide/events, counted per experience ('' when the
# token named none that could be read: a forged one) and reason.
decision_refusals = Table(
    "decision_refusals",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("experience_id", String(64), primary_key=True),
    Column("reason", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("last_at", BigInteger, nullable=False),
)

# -- experiments (relevo.experiments; migration 0016) --

# An experiment over an experience's variants or a recommendation placement's settings (and the
# workspace's global holdout, kind "holdout"); its definition as saved, its state apart so the
# decisions' cache can look for changes as with experiences.
experiments = Table(
    "experiments",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("experiment_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # experience | placement | holdout
    Column("subject_id", String(64), nullable=True),  # the experience or placement tested
    Column("status", String(16), nullable=False),  # draft | running | stopped | shipped
    Column("definition", Json, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("stopped_at", BigInteger, nullable=True),
    Index("ix_experiments_subject", "workspace_id", "kind", "subject_id"),
)

# Who was assigned what, first: one row per (experiment, profile), written in the transaction
# that stores the profile's first ``Experiment Viewed`` event for it. Sticky: a decision reads
# the person's rows before hashing. A merge leaves both profiles' rows (both exposures stay
# visible); the person keeps the variation of the earliest. The dimensions are the visitor's
# at that first exposure, for results broken down by them.
experiment_assignments = Table(
    "experiment_assignments",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("experiment_id", String(64), primary_key=True),
    Column("profile_id", BigInteger, primary_key=True),
    Column("variation_id", String(64), nullable=False),
    Column("exposed_at", BigInteger, nullable=False),
    Column("device", String(32), nullable=True),
    Column("source", String(64), nullable=True),  # traffic source: ppc, newsletter, organic...
    Column("visitor_type", String(16), nullable=True),  # new | returning
    Column("segment", String(64), nullable=True),
    Column("audiences", JSON, nullable=True),  # the audience ids the visitor was in
    Index("ix_experiment_assignments_profile", "workspace_id", "profile_id"),
    # Units per arm and exposure day counted by index ranges, not a sort (migration 0018).
    Index(
        "ix_experiment_assignments_arm_time",
        "workspace_id",
        "experiment_id",
        "variation_id",
        "exposed_at",
    ),
)
