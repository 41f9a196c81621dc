"""Running work at the same instant, and retrying what a database refused for concurrency.

Taught in 06_transactions_and_idempotency.

>>> responses = lk.concurrency.all_at_once(50, lambda client: client.post(...), client=http)
>>> lk.concurrency.retry(transfer, on=is_serialization_failure)
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from labkit.errors import LabkitError

__all__ = ["Retried", "all_at_once", "retry", "sqlstate"]

T = TypeVar("T")
A = TypeVar("A")


def all_at_once(count: int, work: Callable[[A], T], arg: A) -> list[T]:
    """Run ``work(arg)`` from ``count`` threads released together by a barrier; their results.

    A barrier rather than a loop of submits: every thread is ready before any starts, so the
    requests really overlap (what a race needs). An exception in any thread is raised here.

    Taught in 06_transactions_and_idempotency.
    """
    barrier = threading.Barrier(count)

    def one(_: int) -> T:
        barrier.wait()
        return work(arg)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a database error (``40001`` serialization, ``40P01`` deadlock), if any."""
    original: Any = getattr(error, "orig", error)
    code = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return str(code) if code is not None else None


@dataclass
class Retried:
    """What a retried operation returned, and the failures it went through first."""

    value: Any
    failures: list[str] = field(default_factory=list)
    waited_s: float = 0.0

    @property
    def attempts(self) -> int:
        """Tries in all, the successful one included."""
        return len(self.failures) + 1


def retry(
    operation: Callable[[], T],
    *,
    on: Callable[[BaseException], bool],
    attempts: int = 5,
    backoff_s: float = 0.01,
    seed: int = 0,
) -> Retried:
    """Run ``operation`` until it succeeds, retrying the failures ``on`` accepts.

    Waits grow exponentially with full jitter (a random share of ``backoff_s * 2**n``), so
    two clients that failed together do not retry together. Other errors pass through;
    after ``attempts`` failures a `LabkitError` says so.
    """
    jitter = random.Random(seed)
    result = Retried(value=None)
    for attempt in range(attempts):
        try:
            result.value = operation()
            return result
        except Exception as error:
            if not on(error):
                raise
            result.failures.append(sqlstate(error) or type(error).__name__)
            pause = jitter.uniform(0, backoff_s * 2**attempt)
            result.waited_s += pause
            time.sleep(pause)
    raise LabkitError(
        f"the operation failed {attempts} times ({', '.join(result.failures)}); "
        "raise attempts= or find why it keeps conflicting"
    )
