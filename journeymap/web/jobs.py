"""Work on the workspace, one question at a time, that a page can watch.

Every answer the server gives comes from the workspace, on one worker thread (one
engine connection, used by one thread at a time). A request waits briefly for its
answer (a cached map comes back in milliseconds); longer work, such as the first
measure after an ingest, keeps running while the page polls it and shows the
progress the core reports (`journeymap.progress`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from journeymap.progress import reporting

WAIT_S = 0.25  # how long a request waits before answering "still working"


@dataclass
class Job:
    """One question being answered: its future and the latest progress report."""

    key: Hashable
    future: Future | None = None
    started: float = field(default_factory=time.monotonic)
    task: str | None = None
    done: int = 0
    total: int | None = None

    def update(self, task: str, done: int, total: int | None) -> None:
        self.task, self.done, self.total = task, done, total

    def progress(self) -> dict:
        return {"task": self.task, "done": self.done, "total": self.total,
                "elapsed_s": round(time.monotonic() - self.started, 1)}


class Jobs:
    """Questions to the workspace, answered on one worker; a question asked again while
    it is being answered joins the running job."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journeymap-work")
        self._running: dict[Hashable, Job] = {}
        self._lock = threading.Lock()

    def submit(self, key: Hashable, work: Callable[[], object]) -> Job:
        """The job answering `key`: the running one, or a new one doing `work` (a finished
        question is answered afresh: the workspace's cache makes that fast)."""
        with self._lock:
            job = self._running.get(key)
            if job is not None and not job.future.done():
                return job
            job = Job(key)

            def run():
                with reporting(job.update):
                    return work()

            job.future = self._pool.submit(run)
            self._running = {k: j for k, j in self._running.items() if not j.future.done()}
            self._running[key] = job
            return job

    def answer(self, key: Hashable, work: Callable[[], object], wait: float = WAIT_S):
        """(True, result) when the answer is ready within `wait` seconds, else (False, job).
        An error raised by the work is raised here."""
        job = self.submit(key, work)
        try:
            return True, job.future.result(timeout=wait)
        except TimeoutError:
            return False, job

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
