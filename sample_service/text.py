"""Text the service accepts: no NUL and no control characters but tab, line feed and return.

PostgreSQL cannot store NUL in text at all, and SQLite truncates comparisons at it (a search
for NUL matched every product), so both are refused at the edge with a 422 before any query.
"""

from __future__ import annotations

import re

from sample_service.models import MAX_ID

# C0 controls except \t \n \r, and DEL.
_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
CONTROL_CHARACTERS = re.compile(f"[{_CONTROLS}]")
#: The same rule as a JSON Schema pattern, so the contract says what the service refuses.
TEXT_PATTERN = f"^[^{_CONTROLS}]*$"


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a character the service refuses."""
    return CONTROL_CHARACTERS.search(text) is not None


# Ids as the API writes them: no sign, no leading zero, no "_" or spaces that int() forgives.
_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,15}")


def parse_id(text: str) -> int | None:
    """The row id ``text`` spells in canonical decimal up to ``MAX_ID``, else None."""
    if _CANONICAL_ID.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= MAX_ID else None
