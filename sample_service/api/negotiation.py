"""Proactive content negotiation (RFC 9110 §12.5.1): pick a media type from ``Accept``.

Small on purpose: media ranges with q-values, most specific range wins, q=0 refuses.
"""

from __future__ import annotations

from sample_service.errors import NotAcceptable


def _ranges(accept: str) -> list[tuple[str, float]]:
    """``(media range, q)`` pairs of an Accept header; an unreadable q counts as 0."""
    ranges = []
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranges.append((media.lower(), q))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The q of the most specific range that matches ``offer`` (0 when none does)."""
    kind = offer.split("/")[0]
    for candidates in ([offer], [f"{kind}/*"], ["*/*"]):
        matches = [q for media, q in ranges if media in candidates]
        if matches:
            return max(matches)
    return 0.0


def choose(accept: str | None, offers: tuple[str, ...]) -> str:
    """The offer the client prefers (ties go to the first offer); 406 when it takes none."""
    if not accept or not accept.strip():
        return offers[0]
    ranges = _ranges(accept)
    best = max(offers, key=lambda offer: _quality(offer, ranges))
    if _quality(best, ranges) <= 0:
        raise NotAcceptable(
            f"Accept: {accept} matches nothing this resource serves; ask for one of "
            + ", ".join(offers)
        )
    return best
