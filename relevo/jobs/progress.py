"""How a job reports its steps: the CLI shows bars (relevo.cli.recs.RichProgress), an HTTP
call or a test reports nothing (NO_PROGRESS)."""

from __future__ import annotations

from typing import Protocol


class Step(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def describe(self, description: str) -> None: ...

    def finish(self, total: int) -> None: ...


class Progress(Protocol):
    def begin(self, description: str, total: int | None = None) -> Step: ...


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def describe(self, description: str) -> None:
        pass

    def finish(self, total: int) -> None:
        pass


class _NoProgress:
    def begin(self, description: str, total: int | None = None) -> Step:
        return _Silent()


NO_PROGRESS: Progress = _NoProgress()
