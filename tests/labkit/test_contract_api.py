"""`lk.contract`'s public surface changes only on purpose."""

from __future__ import annotations

import labkit as lk
from labkit import contract

PUBLIC = {
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
}


def test_contract_exports_exactly_the_pinned_names() -> None:
    assert set(contract.__all__) == PUBLIC
    assert contract.__all__ == sorted(contract.__all__)
    assert all(hasattr(contract, name) for name in contract.__all__)


def test_contract_errors_are_labkit_errors() -> None:
    assert issubclass(contract.SpecLoadError, contract.ContractError)
    assert issubclass(contract.ContractError, lk.LabkitError)


def test_every_rule_says_why_how_and_where_from() -> None:
    for rule in contract.rules():
        assert rule.severity in ("error", "warning", "info"), rule
        assert rule.why.endswith(".") and rule.fix and rule.source, rule


def test_each_rule_names_the_guideline_it_is_drawn_from() -> None:
    guidelines = {rule.guideline for rule in contract.rules()}
    assert {"Zalando RESTful API Guidelines", "RFC 9110 HTTP Semantics"} <= guidelines
    assert all(":" not in g and "§" not in g and "/ " not in g for g in guidelines), guidelines
