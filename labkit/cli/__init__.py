"""The `labkit` command: doctor, serve, seed, lab, load, bench, review and more."""

from labkit.cli._main import main

__all__ = ["main"]
