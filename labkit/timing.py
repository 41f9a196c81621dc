"""`lk.expect_faster`: a timing claim checked with an explicit margin, failing in one clear line.

Timings on a shared laptop are noisy. A notebook's claim "A is faster than B" is only worth
asserting with a margin written next to it, and when it does not hold, the reader needs to know
whether the claim is false or the machine was too busy to tell; this module says which.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass

import psutil

from labkit.errors import MachineTooBusy, TimingClaimError

__all__ = ["TimingClaim", "expect_faster"]

# Load average per core above which a timing comparison says more about the machine than the code.
BUSY_LOAD_PER_CORE = 1.0


@dataclass(frozen=True)
class TimingClaim:
    """A held claim: `fast` beat `slow` by `ratio`, at least the `margin` asked for."""

    what: str
    fast: float
    slow: float
    margin: float

    @property
    def ratio(self) -> float:
        """How many times `fast` beat `slow` (slow / fast)."""
        return self.slow / self.fast if self.fast > 0 else float("inf")

    def __repr__(self) -> str:
        return (
            f"TimingClaim({self.what}: {self.fast:.3g} vs {self.slow:.3g}, "
            f"{self.ratio:.1f}x faster, margin {self.margin:.1f}x)"
        )

    def _repr_html_(self) -> str:
        return f"<p>✔ {html.escape(repr(self))}</p>"


def expect_faster(
    fast: float, slow: float, *, margin: float = 1.2, what: str = "fast vs slow"
) -> TimingClaim:
    """Check that `fast` took at most 1/`margin` of `slow`; raise one line when it did not.

    Args:
        fast, slow: two measured durations in the same unit (ms, s, ...).
        margin: how many times faster `fast` must be; 1.2 means at least 20 % faster.
        what: the claim in a few words, repeated in the result and in any error.

    Returns a `TimingClaim` (shown as one line). Raises `MachineTooBusy` when the claim failed
    while the machine's load average exceeded its cores (rerun when it is quieter), otherwise
    `TimingClaimError`; both are AssertionErrors, so a notebook check reads as one.
    Taught in 03_indexes_and_explain, 05_orm_and_n_plus_one and 09_load_testing.

    >>> lk.expect_faster(plan_with.total_ms, plan_without.total_ms, margin=2, what="index")
    """
    if margin < 1:
        raise TimingClaimError(f"margin={margin}: a margin is at least 1 (1.2 = 20 % faster).")
    claim = TimingClaim(what=what, fast=fast, slow=slow, margin=margin)
    if claim.ratio >= margin:
        return claim
    seen = (
        f"{what}: {fast:.3g} vs {slow:.3g} is {claim.ratio:.2f}x, short of the {margin:.1f}x margin"
    )
    load, cores = machine_load()
    if load > BUSY_LOAD_PER_CORE * cores:
        raise MachineTooBusy(
            f"{seen}, but the machine is too busy to tell (load average {load:.1f} on {cores} "
            "cores); rerun the cell when it is quieter."
        )
    raise TimingClaimError(f"{seen} on an idle machine (load {load:.1f} on {cores} cores).")


def machine_load() -> tuple[float, int]:
    """The one-minute load average and the number of cores."""
    return psutil.getloadavg()[0], os.cpu_count() or 1
