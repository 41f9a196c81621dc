"""Review an API contract: load OpenAPI, lint it against guidelines, diff versions, test a live service.

>>> report = lk.contract.lint("notebooks/contracts/shop-v1.yaml")
"""

from __future__ import annotations

from labkit.contract._base import ContractError, SpecLoadError
from labkit.contract._diff import Change, Comparison, DiffReport, compare, diff
from labkit.contract._generate import make_large_spec
from labkit.contract._lint import Finding, LintReport, lint
from labkit.contract._load import Operation, Spec, load
from labkit.contract._rules import RULES, Rule
from labkit.contract._testing import ContractFailure, ContractTestReport, OperationResult, test

__all__ = [
    "Change",
    "Comparison",
    "ContractError",
    "ContractFailure",
    "ContractTestReport",
    "DiffReport",
    "Finding",
    "LintReport",
    "Operation",
    "OperationResult",
    "Rule",
    "Spec",
    "SpecLoadError",
    "compare",
    "diff",
    "lint",
    "load",
    "make_large_spec",
    "rules",
    "test",
]


def rules() -> list[Rule]:
    """Every lint rule with its id, severity, why, fix and source: the ids a lint config uses."""
    return list(RULES.values())
