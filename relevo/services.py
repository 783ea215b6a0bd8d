"""The long-lived objects of one Relevo process, built from Settings by the app factory or CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from relevo.profiles.lifecycle import LifecycleThresholds
from relevo.profiles.materializer import Materializer, MaterializerThread
from relevo.profiles.state import ProfileRules
from relevo.recs.live import LiveBundles
from relevo.recs.service import Recommendations
from relevo.settings import Settings
from relevo.storage.account_store import AccountStore
from relevo.storage.catalog_store import CatalogStore
from relevo.storage.database import Database
from relevo.storage.ingest_store import IngestStore
from relevo.storage.interaction_store import InteractionStore
from relevo.storage.model_store import ModelStore
from relevo.storage.person_store import PersonStore
from relevo.storage.profile_store import ProfileStore
from relevo.storage.workspace_store import WorkspaceStore
from relevo.tracking.writer import IngestWriter


class RateLimitCheck(Protocol):
    def check(self, key_id: str, client_ip: str | None) -> None:
        """Raise RateLimited (429) when the key or the client IP is over its limit."""
        ...


class NoRateLimits:
    def check(self, key_id: str, client_ip: str | None) -> None:
        return None


@dataclass
class Services:
    settings: Settings
    db: Database
    workspaces: WorkspaceStore
    ingest: IngestStore
    writer: IngestWriter
    people: PersonStore
    accounts: AccountStore
    materializer: Materializer
    rules: ProfileRules
    lifecycle: LifecycleThresholds
    models: ModelStore
    catalog: CatalogStore
    recommendations: Recommendations
    rate_limits: RateLimitCheck

    @classmethod
    def build(cls, settings: Settings) -> Services:
        db = Database(settings)
        models = ModelStore(Path(settings.models_dir))
        catalog = CatalogStore(db)
        ingest = IngestStore(db, settings.max_anonymous_ids_per_profile)
        rules = ProfileRules(
            session_timeout_ms=settings.session_timeout_minutes * 60_000,
            interest_half_life_ms=settings.interest_half_life_days * 86_400_000,
        )
        return cls(
            settings=settings,
            db=db,
            workspaces=WorkspaceStore(db),
            ingest=ingest,
            writer=IngestWriter(
                ingest, settings.ingest_max_batch_messages, settings.ingest_max_pending_requests
            ),
            people=PersonStore(db),
            accounts=AccountStore(db),
            materializer=Materializer(ProfileStore(db), rules, settings.profiler_chunk_events),
            rules=rules,
            lifecycle=LifecycleThresholds(settings.lapsed_after_days),
            models=models,
            catalog=catalog,
            recommendations=Recommendations(
                InteractionStore(db),
                LiveBundles(models, settings.models_check_seconds),
                settings.recs_history_events,
                stock=catalog,
                stock_check_seconds=settings.models_check_seconds,
            ),
            rate_limits=NoRateLimits(),
        )

    def background(self) -> MaterializerThread:
        return MaterializerThread(self.materializer, self.settings.profiler_interval_seconds)

    def close(self) -> None:
        self.writer.stop()
        self.materializer.store.release_lease()
        self.db.dispose()
