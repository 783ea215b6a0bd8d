"""Fuzz the whole HTTP API from its OpenAPI document, as tests/test_api_fuzz.py does, with a
budget of thousands of cases.

A real ``relevo serve`` on a fresh database; schemathesis generates requests for every operation
of its ``/openapi.json`` (half valid by the document, half not), with the right key most of the
time, sometimes none or a wrong one, and path parameters that name seeded data now and then.
Every answer is checked: no 5xx, and a documented status code, content type and body schema.
Prints the cases per operation, the failures grouped by check (with a curl to reproduce each
kind) and the tracebacks in the server's log. Usage:

    .venv/bin/python bench/fuzz_api.py --backend sqlite --cases 10000 [--seed N] [--record]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import RealServer, create_workspace, drop_schema, fresh_settings, record

from relevo.settings import Settings
from tests.test_api_fuzz import ApiFuzzer, FuzzReport, server_errors


def figures(report: FuzzReport, causes: dict[str, int], workers: int) -> list[str]:
    per_operation = ", ".join(f"{label} {count}" for label, count in sorted(report.cases.items()))
    lines = [
        f"{report.total:,} generated cases over {len(report.cases)} operations in "
        f"{report.seconds:.0f} s ({report.total / max(report.seconds, 1e-9):.0f} cases/s, one "
        f"client, `serve --workers {workers}`, seed {report.seed})",
        f"cases per operation: {per_operation}",
    ]
    grouped = report.failures_by_check()
    server_errors_seen = sum(k.count for k in grouped.get("not_a_server_error", []))
    if not grouped:
        lines.append("**no server error; every response matches the document**")
    else:
        lines.append(f"**{server_errors_seen} server errors (5xx)**")
        for check, kinds in grouped.items():
            detail = "; ".join(f"{k.operation} -> {k.status} x{k.count}" for k in kinds)
            lines.append(f"{check}: {sum(k.count for k in kinds)} failing cases ({detail})")
    if causes:
        lines.append(
            "server tracebacks: " + "; ".join(f"{cause} x{n}" for cause, n in causes.items())
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--cases", type=int, default=10_000, help="in all, across operations")
    parser.add_argument("--seed", type=int, default=None, help="replay a run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()
    command = " ".join(["python", *sys.argv])
    with tempfile.TemporaryDirectory() as tmp:
        fresh = fresh_settings(args.backend, Path(tmp))
        settings = Settings(
            database_url=fresh.database_url,
            database_schema=fresh.database_schema,
            models_dir=str(Path(tmp) / "models"),
        )
        keys = create_workspace(settings, "fuzz")
        server = RealServer(settings, workers=args.workers)
        try:
            fuzzer = ApiFuzzer(server.url, keys, args.seed)
            report = fuzzer.run(args.cases, progress=lambda line: print(line, flush=True))
            causes = server_errors(server.log())
        finally:
            server.stop()
            drop_schema(settings)
    print()
    print(report.summary(samples=2))
    if causes:
        print("\nserver tracebacks (exception, deepest frame of Relevo's code):")
        for cause, count in causes.most_common():
            print(f"{count:6d}  {cause}")
    print(f"\ncommand: {command}")
    if args.record:
        record(f"API fuzzing, {args.backend}", command, figures(report, causes, args.workers))
    if report.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
