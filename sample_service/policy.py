"""Attribute-based access control: rules that read attributes, not roles, in one function.

RBAC (``deps.require_role``) answers "may a staff member do this at all"; these
rules answer questions a role cannot: is this the caller's own review, and is it
still fresh enough to edit. Every ABAC decision goes through ``authorize`` so the
rules can be read, tested and audited in one place.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sample_service.errors import Forbidden
from sample_service.models import Review, User

# A review can be corrected by its author for a day; after that it stands as written.
REVIEW_EDIT_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Decision:
    """Allowed or not, and why (the 403's detail when not)."""

    allowed: bool
    reason: str


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def may_edit_review(*, user: User, review: Review, now: dt.datetime) -> Decision:
    """Its author, within ``REVIEW_EDIT_WINDOW`` of writing it; nobody else, whatever the role."""
    if review.user_id != user.id:
        return Decision(False, f"only the author may edit review {review.id}")
    age = now - _aware(review.created_at)
    if age > REVIEW_EDIT_WINDOW:
        hours = int(REVIEW_EDIT_WINDOW.total_seconds() // 3600)
        return Decision(
            False, f"review {review.id} is older than {hours} h and can no longer change"
        )
    return Decision(True, "the author, within the edit window")


def authorize(decision: Decision) -> None:
    """Raise ``Forbidden`` (a 403 problem) with the rule's reason when it denies."""
    if not decision.allowed:
        raise Forbidden(decision.reason)
