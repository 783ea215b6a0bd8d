"""Import Segment-format messages, one JSON object per line (.jsonl or .jsonl.gz).

HTTP size limits don't apply: a large historical order is still one message. A bad line is
reported with its line number and quarantined; the rest still imports. ``messageId`` makes a
re-run store nothing twice.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from relevo.tracking.jobs import EventSink
from relevo.tracking.messages import RejectedMessage, TrackedMessage, validate_message

BATCH = 1000


@dataclass
class ImportReport:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def open_text(path: Path) -> IO[bytes]:
    handle = path.open("rb")
    if handle.read(2) == b"\x1f\x8b":
        handle.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    handle.seek(0)
    return handle


def import_messages(
    store: EventSink,
    workspace_id: int,
    messages: Iterable[tuple[int, Any]],
    report: ImportReport,
    source: str = "import",
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Store ``(line_number, message)`` pairs; ``message`` is parsed JSON or a RejectedMessage."""
    accepted: list[TrackedMessage] = []
    rejected: list[RejectedMessage] = []

    def flush() -> None:
        result = store.write(workspace_id, accepted, rejected, int(time.time() * 1000), source)
        report.stored += result.stored
        report.duplicates += result.duplicates
        if on_progress is not None:
            on_progress(len(accepted) + len(rejected))
        accepted.clear()
        rejected.clear()

    for line_number, raw in messages:
        report.lines += 1
        if isinstance(raw, RejectedMessage):
            result: TrackedMessage | RejectedMessage = raw
        else:
            result = validate_message(
                raw, int(time.time() * 1000), index=line_number, max_bytes=None, correct_skew=False
            )
        if isinstance(result, TrackedMessage):
            accepted.append(result)
        else:
            rejected.append(result)
            report.rejected.append((line_number, result.reason))
        if len(accepted) + len(rejected) >= BATCH:
            flush()
    if accepted or rejected:
        flush()
    return report


def read_jsonl(handle: IO[bytes]) -> Iterator[tuple[int, Any]]:
    for line_number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield line_number, orjson.loads(line)
        except orjson.JSONDecodeError as error:
            text = line.decode("utf-8", "replace").rstrip("\n")
            yield (
                line_number,
                RejectedMessage(line_number, f"line {line_number}: not JSON ({error})", text),
            )
