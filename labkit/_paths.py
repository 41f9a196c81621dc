"""Where labkit keeps its per-user files (databases, the embedded PostgreSQL, the journal)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def labkit_home() -> Path:
    """Return the per-user data directory, created on first use; `LABKIT_HOME` overrides it."""
    override = os.environ.get("LABKIT_HOME")
    home = Path(override) if override else Path(platformdirs.user_data_dir("labkit"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def postgres_home() -> Path:
    """Return the embedded PostgreSQL's directory.

    PostgreSQL refuses to run as root, so under root the server runs as a service user that
    cannot enter /root; its files then live in /var/lib/labkit unless `LABKIT_HOME` says otherwise.
    """
    if os.geteuid() == 0 and "LABKIT_HOME" not in os.environ:
        path = Path("/var/lib/labkit/postgres")
    else:
        path = labkit_home() / "postgres"
    path.mkdir(parents=True, exist_ok=True)
    return path
