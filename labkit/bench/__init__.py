"""`labkit bench`: how fast the workbench's own hot paths are, on this machine, in one run."""

from labkit.bench._run import ITEMS, BenchError, BenchItem, BenchReport, parse_wrk, run

__all__ = ["ITEMS", "BenchError", "BenchItem", "BenchReport", "parse_wrk", "run"]
