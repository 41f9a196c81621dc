"""The seeded shop that checks run answers against: a database and a live service, one of each
per process (no two kernels share them), gone when the process exits."""

from __future__ import annotations

import atexit
import secrets
import shutil
import tempfile
from functools import cache
from pathlib import Path

from labkit.databases import Database, database, seed
from labkit.service import LiveService

SCALE = 3_000  # orders: enough for the planner's choices to show, seeded in about a second


@cache
def shop() -> Database:
    """A seeded SQLite shop, removed when the process exits (no two kernels share it)."""
    folder = Path(tempfile.mkdtemp(prefix="labkit-exercise-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    db = database(f"sqlite:///{folder / 'shop.db'}")
    atexit.register(db.dispose)
    seed(db, scale=SCALE)
    return db


@cache
def live_shop() -> LiveService:
    """A small seeded shop service without rate limits, stopped when the process exits.

    Its token-signing key is the check's own (`settings["jwt_secret"]`), so a check can sign
    tokens the service would accept and forge ones it must refuse.
    """
    settings = {"rate_limit_enabled": False, "jwt_secret": secrets.token_hex(32)}
    service = LiveService(scale=200, settings=settings)
    atexit.register(service.close)
    return service.start()
