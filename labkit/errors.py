"""Every error labkit raises, so a notebook can tell labkit's failures from its own.

    LabkitError                  a failure a person can act on; one line in a notebook
    ├── BadArgument              a value passed to labkit (or the CLI) it cannot use
    │   └── DatabaseSpecError    `lk.database(...)`: not a kind, not a URL, not a plain name
    ├── PortInUse                the port asked for is already taken on 127.0.0.1
    ├── ServerUnreachable        nothing answered at a server's address (PostgreSQL, ...)
    ├── ServerStartError         a server labkit starts did not come up (service, PostgreSQL)
    ├── DatabaseInUse            `fresh=True` on a database another process holds open
    ├── BenchError               `labkit bench` could not measure an item
    ├── ContractError            an OpenAPI contract could not be used
    │   ├── SpecLoadError        the spec could not be read or parsed (file, URL, service)
    │   ├── LintConfigError      lint() was asked for rules or settings that do not exist
    │   └── ContractTestError    contract tests could not run against the service
    ├── DiagramError             a diagram was asked of something it cannot draw
    ├── ExplainError             EXPLAIN could not run, or its output could not be read
    │   └── IndexExists          an index trial's name is taken; trying it would drop yours
    ├── JournalError             the journal could not be read or written
    ├── LoadError                a load test could not run or gave no result
    ├── QueryLogError            queries could not be counted on that target
    ├── ReviewError              a design review could not read its schema or workload
    └── TimingClaimError         a timing claim missed its margin (also an AssertionError)
        └── MachineTooBusy       ... while the machine was too busy to tell

In IPython and Jupyter a `LabkitError` shows as one line, `ClassName: message`, without the
traceback from inside labkit (IPython asks the exception for `_render_traceback_`). Set the
environment variable `LABKIT_DEBUG=1` (or pass `labkit --debug` on the command line) to see
the full traceback again.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = [
    "BadArgument",
    "BenchError",
    "ContractError",
    "ContractTestError",
    "DatabaseInUse",
    "DatabaseSpecError",
    "DiagramError",
    "ExplainError",
    "IndexExists",
    "JournalError",
    "LabkitError",
    "LintConfigError",
    "LoadError",
    "MachineTooBusy",
    "PortInUse",
    "QueryLogError",
    "ReviewError",
    "ServerStartError",
    "ServerUnreachable",
    "SpecLoadError",
    "TimingClaimError",
    "debug_enabled",
]


def debug_enabled() -> bool:
    """True when LABKIT_DEBUG asks for full tracebacks (any value but empty, 0, false or no)."""
    return os.environ.get("LABKIT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


class LabkitError(Exception):
    """A failure a person can act on: what happened, the value seen, and what to do next."""

    @property
    def _render_traceback_(self) -> Callable[[], list[str]]:
        """IPython's hook: one line instead of a traceback, unless LABKIT_DEBUG is set.

        Under LABKIT_DEBUG the attribute is missing, so IPython formats the traceback as usual.
        """
        if debug_enabled():
            raise AttributeError("_render_traceback_")
        return self._one_line

    def _one_line(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class BadArgument(LabkitError, ValueError):
    """A value passed to labkit (or the CLI) it cannot use; the message names a valid one."""


class DatabaseSpecError(BadArgument):
    """`lk.database(spec, name=...)`: the spec is neither a kind nor a URL, or the name is unsafe."""


class PortInUse(LabkitError):
    """The port asked for is already taken on 127.0.0.1; leave it unset to get a free one."""


class ServerUnreachable(LabkitError):
    """Nothing answered at a server's address: it is not running, or the URL is wrong."""


class ServerStartError(LabkitError):
    """A server labkit starts (the service, the embedded PostgreSQL) did not become ready."""


class DatabaseInUse(LabkitError):
    """A database asked for ``fresh=True`` is open in another process; nothing was dropped."""


class BenchError(LabkitError):
    """A benchmark could not run."""


class ContractError(LabkitError):
    """An OpenAPI contract could not be used."""


class SpecLoadError(ContractError):
    """The spec could not be read or parsed (a file, a URL, a running service)."""


class LintConfigError(ContractError):
    """lint() was asked for rules or settings that do not exist."""


class ContractTestError(ContractError):
    """Contract tests could not run against the service."""


class DiagramError(LabkitError):
    """A diagram was asked of something it cannot draw."""


class ExplainError(LabkitError):
    """EXPLAIN could not run or its output could not be read."""


class IndexExists(ExplainError):
    """An index of the name a trial would create is already there; trying it would drop yours."""


class JournalError(LabkitError):
    """The journal could not be read or written."""


class LoadError(LabkitError):
    """A load test could not run, or gave no usable result."""


class QueryLogError(LabkitError):
    """Queries could not be counted on that target."""


class ReviewError(LabkitError):
    """A design review could not use a schema, workload or engine it was given."""


class TimingClaimError(LabkitError, AssertionError):
    """`lk.expect_faster`: the faster side did not win by the margin asked for."""


class MachineTooBusy(TimingClaimError):
    """A timing claim failed while the machine's load exceeded its cores: rerun when quieter."""
