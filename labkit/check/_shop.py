"""The seeded shop that checks run answers against: one per process, in a folder of its own."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path

from labkit.databases import Database, database, seed

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
