"""The long-lived objects of one Relevo process, built from Settings by the app factory or CLI."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from relevo.api.ratelimit import RateLimits
from relevo.audiences.job import AudienceJob, AudienceJobThread
from relevo.audiences.service import Audiences
from relevo.audiences.webhook_urls import WebhookSender
from relevo.catalog.card_cache import CardCache
from relevo.decide.blocks import Blocks
from relevo.decide.exposures import identity_key
from relevo.decide.feedback import Feedback
from relevo.decide.recorder import ExposureRecorder
from relevo.decide.service import Decider, DecisionParts
from relevo.decide.tokens import token_key
from relevo.experiences.service import Experiences
from relevo.experiments.allocation import AllocationThread, Allocator
from relevo.experiments.analysis.service import ExperimentAnalysis
from relevo.experiments.service import Experiments
from relevo.identity.identities import Identity
from relevo.profiles.lifecycle import LifecycleThresholds
from relevo.profiles.materializer import Materializer, MaterializerThread
from relevo.profiles.state import ProfileRules
from relevo.recs.forgetting import forget_in_stored_models
from relevo.recs.live import LiveBundles
from relevo.recs.service import Recommendations
from relevo.recs.strategies import STRATEGIES
from relevo.recs.trending import AudienceTrending
from relevo.rules.live import LiveRules
from relevo.settings import Settings
from relevo.storage.account_store import AccountStore
from relevo.storage.account_terms_store import AccountTermsStore
from relevo.storage.audience_store import AudienceStore
from relevo.storage.catalog_store import CatalogStore
from relevo.storage.database import Database
from relevo.storage.erasure_store import Erased, ErasureStore
from relevo.storage.experience_store import ExperienceStore
from relevo.storage.experiment_data import ExperimentDataStore
from relevo.storage.experiment_store import ExperimentStore
from relevo.storage.exposure_store import ExposureStore
from relevo.storage.ingest_store import IngestStore
from relevo.storage.interaction_store import InteractionStore
from relevo.storage.model_store import ModelStore
from relevo.storage.person_store import PersonStore
from relevo.storage.profile_store import ProfileStore
from relevo.storage.quarantine_store import QuarantineStore
from relevo.storage.rule_store import RuleStore
from relevo.storage.score_store import ScoreStore
from relevo.storage.workspace_store import WorkspaceStore
from relevo.tracking.writer import IngestWriter

log = logging.getLogger(__name__)


def rate_limits(settings: Settings) -> RateLimits:
    # Counters are keyed by source id, which is only unique within one database: the prefix
    # names the installation, so two of them can share a Redis.
    installation = f"{settings.database_url}|{settings.database_schema or ''}"
    digest = hashlib.blake2b(installation.encode(), digest_size=6).hexdigest()
    return RateLimits(
        redis_url=settings.redis_url,
        per_key=settings.rate_limit_per_key,
        per_ip=settings.rate_limit_per_ip,
        workers=settings.workers,
        prefix=f"relevo:{digest}",
    )


class AudienceDependents:
    """relevo.audiences.records.Dependents: what refuses an audience's deletion."""

    def __init__(
        self, rules: RuleStore, experiences: Experiences, experiments: Experiments
    ) -> None:
        self.rules = rules
        self.experiences = experiences
        self.experiments = experiments

    def using_audience(self, workspace_id: int, audience_id: str) -> dict[str, list[str]]:
        return {
            "rules": self.rules.rules_using_audience(workspace_id, audience_id),
            "experiences": self.experiences.experiences_using_audience(workspace_id, audience_id),
            "experiments": self.experiments.using_audience(workspace_id, audience_id),
        }


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
    rate_limits: RateLimits
    erasures: ErasureStore
    quarantine: QuarantineStore
    merchandising: RuleStore  # merchandising rules (`rules` is the profiles' ProfileRules)
    account_terms: AccountTermsStore
    audience_job: AudienceJob  # Entered/Exited and webhooks, in the lease holder
    audiences: Audiences
    scores: ScoreStore  # each customer's segment, propensity and value (relevo.scores)
    experiences: Experiences  # placements and the experiences that fill them
    experiments: Experiments  # experiments on experiences and placements, the global holdout
    # POST /v1/decide and its feedback (relevo.decide), made from the above in __post_init__.
    exposures: ExposureStore = field(init=False)
    exposure_recorder: ExposureRecorder = field(init=False)  # counters, in group commits
    decider: Decider = field(init=False)
    decision_feedback: Feedback = field(init=False)

    def __post_init__(self) -> None:
        self.exposures = ExposureStore(self.db)
        self.exposure_recorder = ExposureRecorder(self.exposures)
        cards = CardCache(self.catalog, min(1.0, self.settings.models_check_seconds))
        blocks = Blocks(self.recommendations, cards, self.account_terms)

        def key(workspace_id: int) -> bytes:
            return token_key(self.workspaces.trust_keys(workspace_id).link_secret)

        parts = DecisionParts(self.experiences, self.audiences, blocks, self.exposures,
                              self.exposure_recorder, self.writer, key,
                              self.experiments)  # fmt: skip
        self.decider = Decider(parts)
        self.decision_feedback = Feedback(parts)

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
        people = PersonStore(db)
        merchandising = RuleStore(db)
        account_terms = AccountTermsStore(db)
        lifecycle = LifecycleThresholds(settings.lapsed_after_days)
        audience_store = AudienceStore(db)
        scores = ScoreStore(db)
        audiences = Audiences(audience_store, rules, lifecycle, scores=scores)
        experiences = Experiences(ExperienceStore(db), audiences, STRATEGIES)
        experiments = Experiments(ExperimentStore(db), experiences, audiences, STRATEGIES)
        experiences.tested_by = experiments  # deleting what a served experiment tests: refused
        audiences.dependents = AudienceDependents(merchandising, experiences, experiments)
        # Rule and catalog changes reach every worker within about a second.
        live_rules = LiveRules(merchandising, catalog, min(1.0, settings.models_check_seconds))
        return cls(
            settings=settings,
            db=db,
            workspaces=WorkspaceStore(db),
            ingest=ingest,
            writer=IngestWriter(
                ingest, settings.ingest_max_batch_messages, settings.ingest_max_pending_requests
            ),
            people=people,
            accounts=AccountStore(db),
            materializer=Materializer(ProfileStore(db), rules, settings.materializer_chunk_events),
            rules=rules,
            lifecycle=lifecycle,
            models=models,
            catalog=catalog,
            recommendations=Recommendations(
                InteractionStore(db),
                LiveBundles(models, settings.models_check_seconds),
                settings.recs_history_events,
                stock=catalog,
                stock_check_seconds=settings.models_check_seconds,
                rules=live_rules,
                terms=account_terms,
                audiences=audiences,
                trending=AudienceTrending(audiences),
            ),
            rate_limits=rate_limits(settings),
            erasures=ErasureStore(db, people),
            quarantine=QuarantineStore(db),
            merchandising=merchandising,
            account_terms=account_terms,
            audience_job=AudienceJob(
                audiences, audience_store, WebhookSender(settings.webhook_allow_private)
            ),
            audiences=audiences,
            scores=scores,
            experiences=experiences,
            experiments=experiments,
        )

    def erase(self, workspace_id: int, identity: Identity, suppress: bool = False) -> Erased:
        """GDPR erasure: the database in one transaction, then the trained models (the one
        this process serves at once, every stored version rewritten); other processes forget
        the person within ``models_check_seconds`` (``ErasureWatcher``)."""
        erased = self.erasures.erase(workspace_id, identity, suppress)
        if erased.profile_ids:
            # The decisions' exposure counters, under those profiles and under each of their
            # identities (counted so before the profile existed; relevo.decide.exposures).
            key = token_key(self.workspaces.trust_keys(workspace_id).link_secret)
            named = dict.fromkeys([identity, *erased.identities])
            erased.deleted["experience_exposures"] = self.exposures.forget(
                workspace_id, erased.profile_ids, [identity_key(key, i) for i in named]
            )
            self.recommendations.bundles.forget(workspace_id, erased.profile_ids)
            erased.models_rewritten = forget_in_stored_models(
                self.models, workspace_id, erased.profile_ids
            )
        return erased

    def audience_job_thread(self) -> AudienceJobThread:
        """In every server process; the one holding the job's lease runs it."""
        return AudienceJobThread(self.audience_job)

    def allocator(self) -> Allocator:
        return Allocator(self.experiments.store, ExperimentAnalysis(ExperimentDataStore(self.db)))

    def allocation_thread(self) -> AllocationThread:
        """Beside the audience job: thompson experiments' weights, a round a minute."""
        return AllocationThread(self.allocator())

    def erasure_watcher(self) -> ErasureWatcher:
        return ErasureWatcher(self.erasures, self.recommendations.bundles, self.settings)

    def background(self) -> MaterializerThread:
        return MaterializerThread(
            self.materializer, self.settings.materializer_interval_seconds, self.housekeeping
        )

    def housekeeping(self) -> None:
        """Retention: quarantined messages older than ``quarantine_retention_days`` go."""
        days = self.settings.quarantine_retention_days
        purged = self.quarantine.purge(int((time.time() - days * 86_400) * 1000))
        if purged:
            log.info("purged %s quarantined messages older than %s days", purged, days)

    def close(self) -> None:
        self.writer.stop()
        self.exposure_recorder.stop()
        self.rate_limits.close()
        self.materializer.store.release_lease()
        self.db.dispose()


class ErasureWatcher:
    """In every server process: models held in memory forget people erased by any process."""

    def __init__(self, erasures: ErasureStore, bundles: LiveBundles, settings: Settings) -> None:
        self.erasures = erasures
        self.bundles = bundles
        self.interval = settings.models_check_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relevo-erasures", daemon=True)
        # From the first erasure: stored versions were rewritten when each erasure happened,
        # but a process that died in between left the person in them.
        self.last_id = 0

    def start(self) -> None:
        try:
            self.poll()
        except Exception:
            log.exception("reading erasures failed; retrying")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def poll(self) -> int:
        forgotten = 0
        while True:
            rows = self.erasures.erased_after(self.last_id)
            if not rows:
                return forgotten
            by_workspace: dict[int, list[int]] = {}
            for _, workspace_id, profile_id in rows:
                by_workspace.setdefault(workspace_id, []).append(profile_id)
            for workspace_id, profile_ids in by_workspace.items():
                forgotten += self.bundles.forget(workspace_id, profile_ids)
            self.last_id = rows[-1][0]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:
                log.exception("reading erasures failed; retrying")
