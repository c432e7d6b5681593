"""A thread pool owned by the process's runtime: built once by the composition root, shut down
with the application.

Its threads start on first use, in this process (a pool inherited through ``fork`` has no
threads, so a forked worker makes its own). :meth:`ThreadPool.shutdown` ends them; work
submitted afterwards starts a fresh executor, so an application whose lifespan runs again in
the same process (tests, a reload) keeps working. Nothing in it is state another worker needs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ThreadPool:
    def __init__(self, max_workers: int, name: str) -> None:
        self.max_workers = max_workers
        self.name = name
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        """The executor of this process (made now if there is none, or it was shut down)."""
        executor = self._executor
        if executor is not None and self._pid == os.getpid():
            return executor
        with self._lock:
            if self._executor is None or self._pid != os.getpid():
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix=self.name)
                self._pid = os.getpid()
            return self._executor

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        return self.executor().submit(fn, *args)

    def shutdown(self, *, wait: bool = True, cancel_futures: bool = False) -> None:
        """End the threads. With ``wait``, block until the work in flight is done; with
        ``cancel_futures``, drop what is queued and not started."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=cancel_futures)
