"""The shop API the course studies.

Its public face for labkit: ``create_app`` (``sample_service.main``), ``models``, ``seed``,
``migrations`` and the names of the lesson switches below.
"""

from sample_service.schemas.lab import SWITCH_NAMES

__all__ = ["SWITCH_NAMES"]
