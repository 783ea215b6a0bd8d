"""Ingest throughput through /v1/batch, loaded by wrk so the load generator takes little CPU
from the server on a small machine.

Starts `relevo serve --workers 2` on a fresh database, runs wrk with `wrk/batch.lua` (a new body
of `--batch` messages for every request, unique messageIds, anonymous visitors and known
customers, HTTP Basic with a write key) for `--seconds`, lets every request in flight get its
answer, then checks that the database stored exactly the messages the answers accepted and
measures how long after the last answer the profile materializer had folded every event. Usage:

    .venv/bin/python bench/ingest_wrk.py --backend sqlite|postgresql --seconds 20
        [--connections 16] [--threads 2] [--batch 100] [--key-kind server|browser] [--runs 3]
        [--record]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from common import RealServer, drop_schema, engine_for, fresh_settings, record, wait_for_profiles
from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from relevo.services import Services
from relevo.settings import Settings
from relevo.storage import migrate
from relevo.storage import schema as t
from relevo.workspaces.keys import NewWorkspace

SCRIPT = Path(__file__).with_name("wrk") / "batch.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def write_key(created: NewWorkspace, kind: str) -> tuple[str, str]:
    """The key to send and the attribute it came from: `server_write_key` where workspaces have
    sources (`write_key` is then the browser source's), else the workspace's one `write_key`."""
    names = ["server_write_key", "write_key"] if kind == "server" else ["write_key"]
    for name in names:
        for holder in (created, created.workspace):
            key = getattr(holder, name, None)
            if isinstance(key, str) and key:
                return key, name
    raise RuntimeError(f"the new workspace has no {kind} write key")


def create_workspace(settings: Settings, name: str, kind: str) -> tuple[str, str]:
    services = Services.build(settings)
    try:
        migrate.upgrade(services.db)
        return write_key(services.workspaces.create(name), kind)
    finally:
        services.close()


def cpu_seconds(server_pid: int, wrk_pid: int = 0) -> dict[str, float]:
    """CPU time so far of the server's supervisor (it runs the materializer when there are
    several workers), its workers, wrk, and every PostgreSQL process on the machine."""
    totals = {"supervisor": 0.0, "workers": 0.0, "wrk": 0.0, "postgres": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name, fields = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        pid, session = int(entry.name), int(fields[3])
        used = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        if pid == server_pid:
            totals["supervisor"] += used
        elif session == server_pid:  # the server runs in its own session
            totals["workers"] += used
        elif pid == wrk_pid:
            totals["wrk"] += used
        elif name.startswith("postgres"):
            totals["postgres"] += used
    return totals


def machine_cpu() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine since boot, summed over its cores."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / CLOCK_TICKS, sum(values) / CLOCK_TICKS


def caught_up(engine: Engine) -> bool:
    """Whether the materializer's checkpoint has reached the newest stored event."""
    checkpoint = select(t.checkpoints.c.position).where(t.checkpoints.c.name == "profiles")
    with engine.connect() as conn:
        latest = conn.execute(select(func.max(t.events.c.seq))).scalar() or 0
        done = conn.execute(checkpoint).scalar() or 0
    return bool(done >= latest)


@dataclass
class Wrk:
    """wrk as a child process, its output read as it comes: each thread says when it has the
    answers to everything it sent, and wrk is stopped then rather than at the end of -d."""

    command: list[str]
    threads: int
    output: list[str] = field(default_factory=list)
    all_idle: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        idle: set[str] = set()
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            if line.startswith("relevo-wrk idle "):
                idle.add(line.split()[-1])
                if len(idle) == self.threads:
                    self.all_idle.set()

    def running(self) -> bool:
        return self.process.poll() is None

    def interrupt(self) -> None:
        """SIGINT: wrk stops its threads and prints its results."""
        if self.running():
            self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        if self.running():
            self.process.kill()
            self.process.wait()

    def result(self) -> dict[str, Any]:
        self.process.wait()
        self._reader.join()
        for line in self.output:
            if line.startswith("relevo-wrk result "):
                result: dict[str, Any] = orjson.loads(line.split(" ", 2)[2])
                return result
        raise RuntimeError("wrk gave no result:\n" + "\n".join(self.output[-30:]))


@dataclass
class Measured:
    wrk: dict[str, Any]  # the counters of wrk/batch.lua
    catch_up: float  # seconds from the last answer until profiles had every event
    stored: int
    distinct: int
    cpu: dict[str, float]  # CPU seconds over the load, by process
    busy: float  # share of the machine's CPU in use over the load


def load(args: argparse.Namespace, server: RealServer, engine: Engine, key: str) -> Measured:
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        sys.exit("wrk not found: install it (apt-get install wrk)")
    wrk = Wrk(
        [
            wrk_path,
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{math.ceil(args.seconds + args.grace)}s",
            "--timeout",
            "60s",
            "-s",
            str(SCRIPT),
            f"{server.url}/v1/batch",
            "--",
            key,
            str(args.seconds),
            str(args.batch),
            uuid.uuid4().hex[:8],  # the run's prefix of messageIds
            str(args.visitors),
        ],
        args.threads,
    )
    caught_up(engine)  # connect now, not during the tail of the load
    cpu_before, machine_before = cpu_seconds(server.process.pid), machine_cpu()
    started = time.time()
    wrk.start()
    try:
        # Sample the checkpoint from just before the load ends; the moment profiles caught up
        # is judged against wrk's last answer once wrk reports it.
        samples: list[tuple[float, float, bool]] = []  # query start, query end, caught up

        def sample() -> None:
            before = time.time()
            done = caught_up(engine)
            samples.append((before, time.time(), done))
            time.sleep(0.01)

        while time.time() < started + args.seconds - 0.5 and wrk.running():
            time.sleep(0.1)
        while not wrk.all_idle.is_set() and wrk.running():
            sample()
        cpu_after = cpu_seconds(server.process.pid, wrk.process.pid)
        machine_after = machine_cpu()
        wrk.interrupt()
        while wrk.running():
            sample()
        result = wrk.result()
    finally:
        wrk.kill()
    end = result["last_answer"]
    when = next((after for at, after, done in samples if done and at >= end), None)
    if when is None:
        wait_for_profiles(engine, timeout=120, poll=0.01)
        when = time.time()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.events)).scalar() or 0
        distinct = (
            conn.execute(select(func.count(func.distinct(t.events.c.message_id)))).scalar() or 0
        )
    busy, whole = (a - b for a, b in zip(machine_after, machine_before, strict=True))
    return Measured(
        wrk=result,
        catch_up=when - end,
        stored=stored,
        distinct=distinct,
        cpu={name: cpu_after[name] - cpu_before[name] for name in cpu_before},
        busy=busy / whole if whole else 0.0,
    )


def report(
    args: argparse.Namespace, settings: Settings, key_name: str, m: Measured
) -> tuple[list[str], bool]:
    """The lines to print and record, and whether the database holds exactly what was accepted."""
    w = m.wrk
    window = w["last_answer"] - w["first_sent"]
    accepted, answered, unanswered = w["accepted"], w["answered"], w["sent"] - w["answered"]
    exact = accepted > 0 and m.stored == m.distinct == accepted
    exact = exact and unanswered == 0 and w["duplicates"] == 0
    statuses = {int(k): v for k, v in w["statuses"].items()}
    refused = {k: v for k, v in sorted(statuses.items()) if not 200 <= k < 300}
    problems = [f"{v} x HTTP {k}" for k, v in refused.items()]
    problems += [f"{v} socket {k} errors" for k, v in w["errors"].items() if v and k != "status"]
    if w["rejected"]:
        problems.append(f"{w['rejected']} messages rejected")
    latency = {k: v / 1000 for k, v in w["latency_us"].items()}
    cpu = {
        "server workers": m.cpu["workers"],
        "supervisor (materializer)": m.cpu["supervisor"],
        "wrk": m.cpu["wrk"],
    }
    if args.backend == "sqlite":
        database = f"SQLite WAL, synchronous={settings.sqlite_synchronous.upper()}"
    else:
        database = "PostgreSQL on 127.0.0.1"
        cpu["PostgreSQL (all its processes)"] = m.cpu["postgres"]
    cores = os.cpu_count() or 1

    def per_message(seconds: float) -> str:
        return f"{seconds * 1e6 / accepted:.0f}" if accepted else "-"

    cpu["everything else"] = m.busy * window * cores - sum(cpu.values())
    lines = [
        f"accepted {accepted} messages in {window:.1f} s: **{accepted / window:,.0f} messages/s**, "
        f"{answered / window:,.0f} requests/s ({args.batch} messages per request; wrk "
        f"{args.threads} threads, {args.connections} connections)",
        f"answered by `relevo serve --workers {args.workers}` (the materializer in its supervisor "
        f"process) on {database}; authenticated with the workspace's `{key_name}`",
        f"latency (wrk, with its coordinated-omission correction) p50 {latency['p50']:.0f} ms, "
        f"p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms",
        f"non-2xx answers: {sum(refused.values())}"
        + (f" ({', '.join(problems)}; first: {w['error_sample'][:120]})" if problems else ""),
        f"stored {m.stored} events, {m.distinct} distinct message ids: "
        + (
            "no loss, no duplicates"
            if exact
            else f"MISMATCH (accepted {accepted}, duplicates {w['duplicates']}, "
            f"{unanswered} requests unanswered)"
        ),
        f"profiles caught up **{m.catch_up:.2f} s** after the last answer",
        "CPU seconds over the load: "
        + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
        + f" (machine busy {100 * m.busy:.0f}% of its {cores} cores); per accepted message "
        f"{per_message(m.cpu['workers'])} us in the workers, {per_message(m.cpu['supervisor'])} us "
        "in the materializer",
    ]
    return lines, exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--batch", type=int, default=100, help="messages per request")
    parser.add_argument("--workers", type=int, default=2, help="relevo serve --workers")
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument(
        "--key-kind",
        choices=["server", "browser"],
        default="server",
        help="the server or browser source's write key (the workspace's one write key where "
        "workspaces have no sources)",
    )
    parser.add_argument(
        "--grace", type=float, default=15.0, help="longest wait for answers after the load"
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="repeat on a fresh database; report the medians"
    )
    parser.add_argument("--record", action="store_true", help="append the figures to RESULTS.md")
    args = parser.parse_args()

    runs: list[tuple[list[str], bool, Measured]] = []
    for run in range(args.runs):
        if args.runs > 1:
            print(f"run {run + 1} of {args.runs}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            settings = fresh_settings(args.backend, Path(tmp))
            try:
                key, key_name = create_workspace(settings, "bench", args.key_kind)
                server = RealServer(settings, workers=args.workers)
                engine = engine_for(settings)
                try:
                    measured = load(args, server, engine, key)
                finally:
                    server.stop()
                    engine.dispose()
            finally:
                drop_schema(settings)
        lines, exact = report(args, settings, key_name, measured)
        print("\n".join(lines), flush=True)
        runs.append((lines, exact, measured))

    recorded = (
        runs[0][0]
        if args.runs == 1
        else [
            *medians([m for _, _, m in runs]),
            runs[0][0][1],
            *(
                f"run {i + 1}: " + "; ".join(lines[k] for k in (0, 2, 3, 4, 5, 6))
                for i, (lines, _, _) in enumerate(runs)
            ),
        ]
    )
    if args.runs > 1:
        print("\n".join(recorded[:1]))
    if args.record:
        record(f"Ingest with wrk, {args.backend}", " ".join(["python", *sys.argv]), recorded)
    if not all(exact for _, exact, _ in runs):
        sys.exit(1)


def medians(measured: list[Measured]) -> list[str]:
    """One line of the medians over several runs: on a shared machine a single run says little."""

    def rate(m: Measured) -> float:
        return float(m.wrk["accepted"]) / (m.wrk["last_answer"] - m.wrk["first_sent"])

    def per_message(m: Measured, process: str) -> float:
        return m.cpu[process] * 1e6 / m.wrk["accepted"] if m.wrk["accepted"] else math.inf

    return [
        f"median of {len(measured)} runs: **{statistics.median(map(rate, measured)):,.0f} "
        "messages/s**, profiles caught up "
        f"**{statistics.median(m.catch_up for m in measured):.2f} s** after the last answer "
        f"(slowest {max(m.catch_up for m in measured):.2f} s); CPU per accepted message "
        f"{statistics.median(per_message(m, 'workers') for m in measured):.0f} us in the workers, "
        f"{statistics.median(per_message(m, 'supervisor') for m in measured):.0f} us in the "
        f"materializer; machine busy {100 * statistics.median(m.busy for m in measured):.0f}%"
    ]


if __name__ == "__main__":
    main()
