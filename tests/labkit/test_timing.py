"""lk.expect_faster: a timing claim holds by its margin, or says whether it is false or unknowable."""

from __future__ import annotations

import pytest

import labkit as lk
from labkit import timing
from labkit.errors import MachineTooBusy, TimingClaimError


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "machine_load", lambda: (0.2, 2))


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timing, "machine_load", lambda: (5.0, 2))


def test_a_claim_that_beats_its_margin_returns_the_ratio(quiet: None) -> None:
    claim = lk.expect_faster(2.0, 5.0, margin=2, what="index")

    assert claim.ratio == 2.5
    assert "index" in repr(claim)


def test_a_claim_short_of_its_margin_on_a_quiet_machine_is_false(quiet: None) -> None:
    with pytest.raises(TimingClaimError) as caught:
        lk.expect_faster(4.0, 5.0, margin=2, what="index")

    assert not isinstance(caught.value, MachineTooBusy)
    assert isinstance(caught.value, AssertionError)


def test_a_claim_short_of_its_margin_on_a_busy_machine_says_so(busy: None) -> None:
    with pytest.raises(MachineTooBusy, match="too busy to tell"):
        lk.expect_faster(4.0, 5.0, margin=2)


def test_a_busy_machine_does_not_hide_a_claim_that_holds(busy: None) -> None:
    assert lk.expect_faster(1.0, 5.0, margin=2).ratio == 5.0


def test_a_margin_below_one_is_refused() -> None:
    with pytest.raises(TimingClaimError, match="at least 1"):
        lk.expect_faster(1.0, 2.0, margin=0.5)
