"""`with` support for what labkit starts (services, workers, proxies): one copy of the protocol."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """Entering starts it, leaving closes it, whatever happened inside the block."""

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
