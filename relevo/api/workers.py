"""Several HTTP worker processes on one port, each with its own listening socket.

uvicorn's own ``--workers`` shares one socket between the processes, and whichever worker wakes
first accepts every pending connection: with a handful of keep-alive clients (SDKs, a load
balancer) one worker got nearly all the traffic and the other idled. With SO_REUSEPORT each
worker listens on its own socket and the kernel spreads new connections across them.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)

ASGI_FACTORY = "relevo.api.asgi:create"


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _config() -> uvicorn.Config:
    from relevo.settings import Settings

    return uvicorn.Config(
        ASGI_FACTORY,
        factory=True,
        log_level="warning",
        access_log=False,
        # The client IP (rate limits) from X-Forwarded-For only when a trusted proxy sent it.
        proxy_headers=True,
        forwarded_allow_ips=Settings().forwarded_allow_ips,
    )


def serve_one(host: str, port: int) -> None:
    """One process: the API (and, by settings, the profile materializer) in this process."""
    uvicorn.Server(_config()).run(sockets=[listening_socket(host, port, reuse_port=False)])


def _worker(host: str, port: int) -> None:
    uvicorn.Server(_config()).run(sockets=[listening_socket(host, port, reuse_port=True)])


class WorkerPool:
    """Starts ``count`` workers, restarts one that dies, stops them all on SIGINT/SIGTERM."""

    def __init__(self, host: str, port: int, count: int) -> None:
        if port == 0:
            raise ValueError("--port 0 cannot be shared by several workers; choose a port")
        self.host, self.port, self.count = host, port, count
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._processes: list[BaseProcess] = []

    def run(self) -> None:
        # Fail here, in the foreground, if the port is taken by something else.
        listening_socket(self.host, self.port, reuse_port=True).close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        self._processes = [self._start() for _ in range(self.count)]
        try:
            while not self._stopping.wait(0.5):
                for i, process in enumerate(self._processes):
                    if not process.is_alive():
                        log.warning(
                            "worker %s exited with %s; restarting", process.pid, process.exitcode
                        )
                        time.sleep(0.5)  # don't spin if it dies at start-up
                        self._processes[i] = self._start()
        finally:
            self._stop_all()

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=_worker, args=(self.host, self.port), daemon=False)
        process.start()
        return process

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests
        deadline = time.monotonic() + 15
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
