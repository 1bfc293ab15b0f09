"""Work at once on several connections: independent jobs side by side, and jobs in a background thread."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Self, TypeVar

from tasks.settings import Settings

First = TypeVar("First")
Second = TypeVar("Second")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


# How many parts a bulk statement is split into, each on its own connection: PostgreSQL runs an INSERT ...
# SELECT in one process however many cores the machine has (parallel query is for reads only). This
# machine's cores stand for the server's unless SEGMENTS_PARALLEL_CONNECTIONS says otherwise.
PARALLEL_PARTS = Settings().parallel_connections or max(1, min(os.cpu_count() or 1, 4))


def in_parallel(jobs: Sequence[Callable[[], Result]]) -> list[Result]:
    """Run independent database jobs at once, each on its own connection, and return their results in order.

    Most statements keep one server process busy while this one waits: jobs that neither read what the
    other writes can share the machine's other cores. If any raises, all have finished before the error
    propagates (the earliest job's error wins).
    """
    if len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=len(jobs) - 1, thread_name_prefix="in-parallel") as pool:
        in_background = [pool.submit(job) for job in jobs[:-1]]
        try:
            last = jobs[-1]()
        except BaseException:
            for future in in_background:
                future.result()  # a failure there is the earlier cause; otherwise re-raise the last's
            raise
        return [future.result() for future in in_background] + [last]


def concurrently(first: Callable[[], First], second: Callable[[], Second]) -> tuple[First, Second]:
    """Two independent database jobs at once (in_parallel), with both results typed."""
    first_result, second_result = in_parallel([first, second])  # type: ignore[list-item]
    return first_result, second_result  # type: ignore[return-value]


class BackgroundJobs:
    """Jobs that run one after another in a background thread while the caller goes on: `submit` queues one,
    `wait` returns the results of those queued so far once they have finished (raising the first one's
    error). Leaving a `with` block waits too; when the block itself raised, its error is the one to see and
    a job's failure is only logged."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=what.replace(" ", "-"))
        self._jobs: list[Future[Any]] = []

    def submit(self, job: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._jobs.append(self._worker.submit(job, *args, **kwargs))

    def wait(self) -> list[Any]:
        jobs, self._jobs = self._jobs, []
        return [job.result() for job in jobs]

    def __enter__(self) -> Self:
        return self

    def __exit__(self, error_type: type[BaseException] | None, *_details: object) -> None:
        try:
            self.wait()
        except Exception:
            if error_type is None:
                raise
            log.exception("%s failed too", self.what)
        finally:
            self._worker.shutdown()
