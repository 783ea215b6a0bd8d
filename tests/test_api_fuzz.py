"""The whole HTTP API fuzzed from its own OpenAPI document, against a real ``relevo serve`` on each
backend: every operation gets generated requests (valid ones and ones that break the document),
each with the right key most of the time and sometimes none or a wrong one, path parameters that
name seeded data now and then, so cases get past 401 and 404 to the handlers. No answer may be
a 5xx, and every answer must match the document: a documented status code, content type and
body schema.

The runner (``ApiFuzzer``) is shared with ``bench/fuzz_api.py``, which runs the same thing with a
budget of thousands of cases and prints the failures grouped by check. Here the budget is a few
hundred cases per backend (``RELEVO_FUZZ_CASES``); ``RELEVO_FUZZ_SEED`` replays a run.
"""

from __future__ import annotations

import base64
import os
import random
import re
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import jsonschema_rs
import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from relevo.api.segment_schema import (
    ErrorResponse,
    batch_schema,
    error_responses,
    message_schema,
    tracking_openapi_extra,
)
from relevo.recs.strategies import STRATEGIES
from relevo.settings import Settings
from relevo.tracking.messages import MESSAGE_TYPES, TrackedMessage, validate_message
from tests.databases import drop_schema, make_settings
from tests.real_server import RealServer, create_workspace

AnyCase = Case[Any]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DEFAULT_CASES = 600  # per backend, across every operation and both generation modes

# How each tag authenticates. An operation whose tag is not here fails the run: a new router
# must say which key it takes, or its cases would all stop at 401.
WRITE, SECRET, EITHER, NONE = "write key", "secret key", "either key", "no key"
AUTH_BY_TAG = {
    "tracking": WRITE,
    "profiles": SECRET,
    "accounts": SECRET,
    "audiences": SECRET,
    "identity": SECRET,
    "catalog": SECRET,
    "recommendations": EITHER,
    "experiences": SECRET,
    "experiments": SECRET,
    "decisions": EITHER,
    "decision refusals": SECRET,
    "rules": SECRET,
    "segments": SECRET,
    "health": NONE,
    "snippet": NONE,
}
# Most cases carry the right key; some none, some a wrong one (unknown, or the other kind).
CREDENTIALS = ["right"] * 8 + ["none", "wrong"]

# What the seed stores, so that realistic path parameters find something.
SEEDED_IDENTITIES = {
    "user_id": "fuzz-user",
    "anonymous_id": "fuzz-anon",
    "email": "fuzz@example.com",
    "phone": "+442079460000",
    "loyalty_card": "card-1",
}
SEEDED_GROUP = "acme"
SEEDED_PRODUCTS = ["p-1", "p-2", "p-3"]
STRATEGY_NAMES = sorted(STRATEGIES)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Sample:
    """One failing case, enough to reproduce it."""

    status: int
    message: str
    curl: str
    response: str


@dataclass
class FailureKind:
    """Failures of one check on one operation with one status code."""

    check: str
    operation: str
    status: int
    title: str
    count: int = 0
    samples: list[Sample] = field(default_factory=list)


@dataclass
class FuzzReport:
    seed: int
    cases: Counter[str] = field(default_factory=Counter)  # operation label -> cases sent
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: dict[tuple[str, str, int, str], FailureKind] = field(default_factory=dict)
    # Valid by the document, refused all the same (a 400): where the document and the
    # validator disagree. Not a failure (400 is documented), but worth a look.
    refused_valid: Counter[tuple[str, str]] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def failures_by_check(self) -> dict[str, list[FailureKind]]:
        grouped: dict[str, list[FailureKind]] = {}
        for kind in sorted(self.failures.values(), key=lambda k: (k.check, k.operation, k.status)):
            grouped.setdefault(kind.check, []).append(kind)
        return grouped

    def summary(self, *, samples: int = 1) -> str:
        lines = [f"{self.total} cases in {self.seconds:.1f} s (seed {self.seed})", ""]
        lines.append("cases per operation (status codes seen):")
        for label, count in sorted(self.cases.items()):
            seen = sorted((s, n) for (op, s), n in self.statuses.items() if op == label)
            codes = ", ".join(f"{s}x{n}" for s, n in seen)
            lines.append(f"  {count:6d}  {label}  ({codes})")
        lines.append("")
        grouped = self.failures_by_check()
        if not grouped:
            lines.append("no failures")
        for check, kinds in grouped.items():
            total = sum(k.count for k in kinds)
            lines.append(f"{check}: {total} failing cases")
            for kind in kinds:
                lines.append(f"  {kind.count:6d}  {kind.operation} -> {kind.status}: {kind.title}")
                for sample in kind.samples[:samples]:
                    lines.append("          " + sample.message.splitlines()[0][:300])
                    lines.append("          " + sample.curl.replace("\n", " ")[:1500])
                    lines.append("          response: " + sample.response[:300])
        if self.refused_valid:
            lines.append("")
            lines.append("valid by the document, refused with 400 (the most frequent reasons):")
            for (label, reason), count in self.refused_valid.most_common(30):
                lines.append(f"  {count:6d}  {label}: {reason}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


class ApiFuzzer:
    """Generates cases for every operation of the server's ``/openapi.json`` and checks each
    answer; never stops at the first failure, so one run lists every kind of failure."""

    def __init__(self, base_url: str, keys: dict[str, str], seed: int | None = None) -> None:
        self.base_url = base_url
        self.write_key = keys["write_key"]  # a browser source's
        # A server source's key (its identity links are trusted), where the workspace has one.
        self.server_write_key = keys.get("server_write_key", self.write_key)
        self.secret_key = keys["secret_key"]
        self.seed = random.randrange(2**32) if seed is None else seed
        # Unsanitized: a reproduction needs its Authorization header (placeholders() hides keys).
        config = schemathesis.Config.from_dict({"output": {"sanitization": {"enabled": False}}})
        self.schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
        self.session = requests.Session()
        self.recommendation_id = "rec_unknown"

    # -- data the realistic path parameters name ---------------------------------------------

    def seed_data(self) -> None:
        """Run before every operation, so a catalog delete by an earlier one is undone. (Erasing
        the seeded person would suppress it for good: erase cases get a person of their own.)
        Sent with the server write key, whose identity links are trusted: e-mail, phone and
        loyalty card then name the seeded person."""
        tag = uuid.uuid4().hex[:8]
        person = {"userId": SEEDED_IDENTITIES["user_id"], "anonymousId": "fuzz-anon"}
        product = {"product_id": "p-1", "category": "Shoes", "brand": "Acme", "price": 20}
        messages = [
            {
                **person,
                "type": "identify",
                "messageId": f"seed-identify-{tag}",
                "traits": {"email": SEEDED_IDENTITIES["email"], "phone": "+44 20 7946 0000"},
                "context": {"externalIds": [{"type": "loyalty_card", "id": "card-1"}]},
            },
            {**person, "type": "track", "event": "Product Viewed", "properties": product},
            {
                **person,
                "type": "track",
                "event": "Order Completed",
                "properties": {"order_id": f"o-{tag}", "revenue": 20, "products": [product]},
            },
            {**person, "type": "group", "groupId": SEEDED_GROUP, "traits": {"name": "Acme"}},
            {**person, "type": "page", "name": "Home"},
        ]
        products = [
            {"product_id": pid, "title": f"Product {pid}", "price": 10 + i, "category": "Shoes"}
            for i, pid in enumerate(SEEDED_PRODUCTS)
        ]
        with httpx.Client(base_url=self.base_url, timeout=30) as http:
            sent = http.post(
                "/v1/batch", json={"batch": messages}, headers=basic(self.server_write_key)
            )
            sent.raise_for_status()
            assert sent.json()["rejected"] == [], sent.text
            stored = http.post(
                "/v1/catalog/products",
                json={"products": products},
                headers=bearer(self.secret_key),
            )
            stored.raise_for_status()
            answer = http.post(
                "/v1/recommendations",
                json={
                    "strategy": "trending",
                    "identity": {"kind": "user_id", "value": "fuzz-user"},
                },
                headers=bearer(self.secret_key),
            )
            answer.raise_for_status()
            self.recommendation_id = answer.json()["recommendation_id"]

    def realistic(self, case: AnyCase, choice: int) -> None:
        """Point the case's path parameters, and the strategy and identity of a recommendation
        body, at what exists (which seeded identity, product or strategy: ``choice``)."""
        params = case.path_parameters or {}
        kinds = list(SEEDED_IDENTITIES)
        body: Any = case.body
        tags = case.operation.tags or []
        if isinstance(body, dict) and "recommendations" in tags:
            if "strategy" in body:
                body["strategy"] = STRATEGY_NAMES[choice % len(STRATEGY_NAMES)]
            if isinstance(body.get("identity"), dict):
                kind = ("anonymous_id", "user_id")[choice % 2]
                body["identity"].update(kind=kind, value=SEEDED_IDENTITIES[kind])
            if isinstance(body.get("context"), dict) and "product_id" in body["context"]:
                body["context"]["product_id"] = SEEDED_PRODUCTS[choice % len(SEEDED_PRODUCTS)]
        elif isinstance(body, dict) and "identity" in tags:  # e-mail links name a person
            kind = kinds[choice % len(kinds)]
            if isinstance(body.get("identity"), dict):
                body["identity"].update(kind=kind, value=SEEDED_IDENTITIES[kind])
            identities = body.get("identities")
            for item in identities if isinstance(identities, list) else []:
                if isinstance(item, dict):
                    item.update(kind=kind, value=SEEDED_IDENTITIES[kind])
        if "kind" in params and case.method.upper() == "DELETE":
            params["kind"], params["value"] = "user_id", self.doomed_person()
        elif "kind" in params:
            kind = kinds[choice % len(kinds)]
            params["kind"] = kind
            params["value"] = SEEDED_IDENTITIES[kind]
        if "group_id" in params:
            params["group_id"] = SEEDED_GROUP
        if "product_id" in params:
            params["product_id"] = SEEDED_PRODUCTS[choice % len(SEEDED_PRODUCTS)]
        if "recommendation_id" in params:
            params["recommendation_id"] = self.recommendation_id

    def doomed_person(self) -> str:
        """A new person for an erase case to erase."""
        user_id = f"erase-{uuid.uuid4().hex[:12]}"
        message: dict[str, Any] = {
            "type": "identify",
            "userId": user_id,
            "traits": {"plan": "gold"},
        }
        sent = self.session.post(
            f"{self.base_url}/v1/identify", json=message, headers=basic(self.server_write_key)
        )
        sent.raise_for_status()
        return user_id

    # -- credentials --------------------------------------------------------------------------

    @staticmethod
    def auth_kind(operation: Any) -> str | None:
        kinds = {AUTH_BY_TAG[tag] for tag in operation.tags or [] if tag in AUTH_BY_TAG}
        return kinds.pop() if len(kinds) == 1 else None

    def headers(self, case: AnyCase, credentials: str, choice: int) -> dict[str, str]:
        kind = self.auth_kind(case.operation)
        if kind == NONE or credentials == "none":
            return {}
        if credentials == "right":
            if kind == WRITE:
                return basic(self.server_write_key if choice % 2 else self.write_key)
            if kind == SECRET:
                return bearer(self.secret_key)
            return bearer(self.secret_key) if choice % 2 else basic(self.write_key)
        wrong = [
            basic("wk_" + "0" * 32),
            bearer("sk_" + "0" * 32),
            {"Authorization": "Basic not-base64!"},
            {"Authorization": "Bearer"},
            # A real key of the wrong kind, or sent in the wrong scheme.
            bearer(self.write_key),
            basic(self.secret_key),
            bearer(self.secret_key) if kind == WRITE else basic(self.server_write_key),
        ]
        return wrong[choice % len(wrong)]

    # -- running ------------------------------------------------------------------------------

    def run(self, budget: int, *, progress: Callable[[str], None] | None = None) -> FuzzReport:
        """About ``budget`` cases in all, shared out over the operations (an operation that runs
        out of distinct cases leaves its share to the next ones), half of each share valid by
        the document, half not."""
        report = FuzzReport(self.seed)
        operations = []
        for result in self.schema.get_all_operations():
            if isinstance(result, Ok):
                operations.append(result.ok())
            else:  # the document describes it in a way no request can be generated from
                error = result.err()
                key = ("valid_document", error.label, 0, "")
                report.failures[key] = FailureKind(key[0], error.label, 0, error.message, 1)
        for operation in operations:
            if self.auth_kind(operation) is None:  # fuzzed all the same, mostly without a key
                key = ("auth_by_tag", operation.label, 0, "")
                report.failures[key] = FailureKind(
                    key[0],
                    operation.label,
                    0,
                    f"tags {operation.tags} say nothing of the key it takes: add its tag to "
                    "AUTH_BY_TAG in tests/test_api_fuzz.py",
                    1,
                )
        started = time.monotonic()
        left = budget
        for position, operation in enumerate(operations):
            share = left // (len(operations) - position)
            before = report.cases[operation.label]
            self.seed_data()
            self._run_operation(operation, GenerationMode.POSITIVE, max(1, share // 2), report)
            half = report.cases[operation.label]
            self._run_operation(operation, GenerationMode.NEGATIVE, share - half + before, report)
            # Where few requests break the document (string path parameters), or an operation
            # has few distinct cases, the rest of its share goes to valid cases of another seed.
            rest = share - (report.cases[operation.label] - before)
            if rest > 0:
                self._run_operation(operation, GenerationMode.POSITIVE, rest, report, seed=1)
            left -= report.cases[operation.label] - before
            if progress is not None:
                progress(f"{operation.label}: {report.cases[operation.label] - before} cases")
        report.seconds = time.monotonic() - started
        return report

    def _run_operation(
        self,
        operation: Any,
        mode: GenerationMode,
        cases: int,
        report: FuzzReport,
        seed: int = 0,
    ) -> None:
        if cases <= 0:
            return
        strategy = st.tuples(
            operation.as_strategy(generation_mode=mode),
            st.sampled_from(CREDENTIALS),
            st.integers(0, 59),
            st.booleans(),
        )

        # Each operation its own stream of cases, reproducible from the run's seed.
        @hypothesis.seed((self.seed + zlib.crc32(operation.label.encode()) + seed) % 2**32)
        @hypothesis.settings(
            max_examples=cases,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
        )
        @hypothesis.given(strategy)
        def one(drawn: tuple[AnyCase, str, int, bool]) -> None:
            case, credentials, choice, realistic = drawn
            if realistic:
                self.realistic(case, choice)
            self.check(case, self.headers(case, credentials, choice), report, mode)

        try:
            one()
        except Unsatisfiable:
            if seed == 0:
                report.notes.append(f"{operation.label}: no {mode.value} case can be generated")

    def check(
        self,
        case: AnyCase,
        headers: dict[str, str],
        report: FuzzReport,
        mode: GenerationMode = GenerationMode.POSITIVE,
    ) -> None:
        label = case.operation.label
        report.cases[label] += 1
        try:
            response = case.call(
                base_url=self.base_url, session=self.session, headers=headers, timeout=30
            )
        except requests.RequestException as error:
            self._record(report, "connection", label, 0, repr(error), case, headers, "")
            return
        report.statuses[(label, response.status_code)] += 1
        if mode is GenerationMode.POSITIVE and response.status_code == 400:
            report.refused_valid[(label, refusal_reason(response.content))] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                self._record_failure(report, failure, case, headers, response)
        except Failure as failure:
            self._record_failure(report, failure, case, headers, response)

    def _record_failure(
        self,
        report: FuzzReport,
        failure: Failure,
        case: AnyCase,
        headers: dict[str, str],
        response: Any,
    ) -> None:
        check = failure.checks[0] if failure.checks else failure.title
        body = response.content.decode(errors="replace") if response.content else ""
        message = f"{failure.title}: {failure.message}"
        label = case.operation.label
        self._record(report, check, label, response.status_code, message, case, headers, body)

    def _record(
        self,
        report: FuzzReport,
        check: str,
        label: str,
        status: int,
        message: str,
        case: AnyCase,
        headers: dict[str, str],
        body: str,
    ) -> None:
        # The first line of a schema violation names the field, which tells causes apart.
        lines = message.splitlines()
        detail = lines[1] if check == "response_schema_conformance" and len(lines) > 1 else ""
        key = (check, label, status, detail[:120])
        kind = report.failures.setdefault(
            key, FailureKind(check, label, status, message.splitlines()[0][:200])
        )
        kind.count += 1
        if len(kind.samples) < 3:
            curl = case.as_curl_command(headers=headers, base_url=self.base_url)
            kind.samples.append(Sample(status, message, self.placeholders(curl), body))

    def placeholders(self, curl: str) -> str:
        """The run's own keys as shell variables, so a reproduction runs on any server."""
        for header, replacement in (
            (basic(self.write_key)["Authorization"], "Basic $(printf %s: $WRITE_KEY | base64)"),
            (
                basic(self.server_write_key)["Authorization"],
                "Basic $(printf %s: $SERVER_WRITE_KEY | base64)",
            ),
            (bearer(self.secret_key)["Authorization"], "Bearer $SECRET_KEY"),
            (bearer(self.write_key)["Authorization"], "Bearer $WRITE_KEY"),
            (basic(self.secret_key)["Authorization"], "Basic $(printf %s: $SECRET_KEY | base64)"),
        ):
            curl = curl.replace(
                f"-H 'Authorization: {header}'", f'-H "Authorization: {replacement}"'
            )
        return curl.replace(self.base_url, "http://127.0.0.1:8000")


def refusal_reason(body: bytes) -> str:
    """An error message with the values taken out, so that refusals group by their reason."""
    try:
        message = str(orjson.loads(body)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body[:80].decode(errors="replace")
    message = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "…", message)
    return re.sub(r"\b\d+\b", "N", message)[:120]


def server_errors(log: str) -> Counter[str]:
    """The tracebacks in a server log, each as its exception and the deepest frame of Relevo's
    own code: the causes behind the 5xx answers. Counts are of log entries, not requests: a 500
    is logged by the app and by the ASGI server, and a chained exception once per link."""
    causes: Counter[str] = Counter()
    for block in log.split("Traceback (most recent call last):")[1:]:
        lines = [line for line in block.splitlines() if line.strip()]
        frames = [line.strip() for line in lines if line.startswith("  File")]
        own = [f for f in frames if "/relevo/" in f and "site-packages" not in f]
        exception = next((line for line in lines if not line.startswith(" ")), "?")
        where = (own or frames or ["?"])[-1]
        causes[f"{exception[:200]}  at {where}"] += 1
    return causes


def fuzz_cases() -> int:
    return int(os.environ.get("RELEVO_FUZZ_CASES", DEFAULT_CASES))


def fuzz_seed() -> int | None:
    seed = os.environ.get("RELEVO_FUZZ_SEED")
    return int(seed) if seed else None


@pytest.fixture
def settings(backend: str, tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(backend, str(tmp_path), models_dir=str(tmp_path / "models"))
    yield settings
    drop_schema(settings)


@pytest.mark.slow
def test_every_operation_answers_as_documented(settings: Settings) -> None:
    keys = create_workspace(settings, "fuzz")
    server = RealServer(settings, workers=1)
    try:
        fuzzer = ApiFuzzer(server.url, keys, fuzz_seed())
        report = fuzzer.run(fuzz_cases())
        causes = server_errors(server.log())
    finally:
        server.stop()
    summary = report.summary(samples=2)
    if causes:
        summary += "\n\nserver tracebacks:\n" + "\n".join(f"{n:6d}  {c}" for c, n in causes.items())
    print(summary)
    documented = {
        result.ok().label for result in fuzzer.schema.get_all_operations() if isinstance(result, Ok)
    }
    assert set(report.cases) == documented, "every operation must be fuzzed"
    assert report.failures == {}, summary


# The documented bodies and the validator agree on a few plain cases (the fuzzer then explores
# the rest): what Segment's own clients send is valid by both, and what breaks a rule of the
# spec breaks the document too.
SEGMENT_MESSAGES = [
    {"type": "track", "event": "Product Viewed", "anonymousId": "a1", "properties": {"id": 1}},
    {"type": "identify", "userId": 42, "traits": {"email": "a@example.com"}},
    {"type": "page", "anonymousId": "a1", "name": "Home", "context": {"page": {"url": "/"}}},
    {"type": "screen", "userId": "u1", "name": "Cart"},
    {"type": "group", "userId": "u1", "groupId": "acme", "traits": {"plan": "pro"}},
    {"type": "alias", "previousId": "a1", "userId": "u1"},
    {
        "type": "track",
        "event": "Order Completed",
        "userId": "u1",
        "messageId": "m-1",
        "timestamp": "2024-05-01T10:00:00.000Z",
        "sentAt": "2024-05-01T10:00:01Z",
        "context": {
            "library": {"name": "analytics-python", "version": "2.3.3"},
            "externalIds": [{"type": "loyalty_card", "id": "c-1", "collection": "users"}],
        },
        "integrations": {"All": True},
    },
]
BROKEN_MESSAGES = [
    {"type": "track", "anonymousId": "a1"},  # no event
    {"type": "identify", "traits": {"email": "a@example.com"}},  # nobody
    {"type": "group", "userId": "u1"},  # no groupId
    {"type": "alias", "userId": "u1"},  # no previousId
    {"type": "track", "event": "e" * 256, "anonymousId": "a1"},  # name over the limit
    {"type": "page", "anonymousId": "a" * 256},  # id over the limit
    {"type": "track", "event": "Seen", "userId": 2**64},  # integer id over 64 bits
]


@pytest.mark.parametrize("message", SEGMENT_MESSAGES, ids=lambda m: str(m["type"]))
def test_documented_bodies_accept_what_the_validator_accepts(message: dict[str, Any]) -> None:
    kind = message["type"]
    single = {k: v for k, v in message.items() if k != "type"}  # a route implies its type
    assert jsonschema_rs.validator_for(message_schema(kind)).is_valid(single)
    assert jsonschema_rs.validator_for(batch_schema()).is_valid({"batch": [message]})
    assert isinstance(validate_message(message, 1_714_557_600_000), TrackedMessage)


@pytest.mark.parametrize("message", BROKEN_MESSAGES, ids=lambda m: str(m["type"]))
def test_documented_bodies_refuse_what_breaks_the_spec(message: dict[str, Any]) -> None:
    assert not jsonschema_rs.validator_for(message_schema(message["type"])).is_valid(message)
    assert not jsonschema_rs.validator_for(batch_schema()).is_valid({"batch": [message]})


def test_tracking_documents_are_self_contained() -> None:
    for kind in (*MESSAGE_TYPES, "batch"):
        extra = tracking_openapi_extra(kind)
        assert "$ref" not in orjson.dumps(extra).decode()
        assert extra["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    responses = error_responses({400: "Bad"}) | error_responses([413])
    assert responses[400] == {"model": ErrorResponse, "description": "Bad"}
    assert responses[413] == {"model": ErrorResponse, "description": "Body too large"}
