"""The `labkit` command: doctor, serve, seed, lab, load and bench."""

from labkit.cli._main import main

__all__ = ["main"]
