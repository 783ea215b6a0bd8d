"""Start ``relevo serve`` as a real process for tests of crashes, concurrency and real clients."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from relevo.settings import Settings

RELEVO = str(Path(sys.executable).with_name("relevo"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEVO_")}
    env["RELEVO_DATABASE_URL"] = settings.database_url
    for name in settings.model_fields_set - {"database_url"}:
        value = getattr(settings, name)
        if value is not None:
            env[f"RELEVO_{name.upper()}"] = str(value)
    return env


def create_workspace(settings: Settings, name: str) -> dict[str, str]:
    out = subprocess.run(
        [RELEVO, "workspace", "create", name, "--json"],
        env=environment(settings),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys: dict[str, str] = json.loads(out)
    return keys


class RealServer:
    """``relevo serve`` in its own process group, so a kill reaches every worker."""

    def __init__(self, settings: Settings, workers: int = 2) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: nobody reads the server's log while it runs, and a full pipe
        # would block the server mid-request.
        self.log_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop and kill)
        self.process = subprocess.Popen(
            [RELEVO, "serve", "--port", str(self.port), "--workers", str(workers)],
            env=environment(settings),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("server did not become ready")

    def kill(self) -> None:
        """kill -9 of the whole process group: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log_file.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self.log_file.close()

    def log(self) -> str:
        """What the server wrote to stderr so far."""
        self.log_file.seek(0)
        return self.log_file.read().decode(errors="replace")
