"""Query plans made readable and comparable on SQLite, PostgreSQL, DuckDB and MySQL/MariaDB.

`explain` parses each engine's EXPLAIN into one `Plan` tree; `compare` says what
changed between two plans; `try_index` and `suggest_indexes` measure an index
before you keep it, and always leave the schema as they found it.

The front door of the plan subsystem: the model (`_model`), the engines' readers
(`_engines`, one reader per engine), index trials (`_trials`) and advice (`_advice`), and
the renderers (`_html`, `_diagram`) live behind it.
"""

from labkit.plans import _html  # noqa: F401  (registers the HTML renderers with the model)
from labkit.plans._advice import IndexAdvice, IndexSuggestion, suggest_indexes
from labkit.plans._diagram import plan_diagram
from labkit.plans._engines import ExplainError
from labkit.plans._explain import compare, explain
from labkit.plans._model import Misestimate, Plan, PlanComparison, PlanNode
from labkit.plans._trials import IndexTrial, try_index

__all__ = [
    "ExplainError",
    "IndexAdvice",
    "IndexSuggestion",
    "IndexTrial",
    "Misestimate",
    "Plan",
    "PlanComparison",
    "PlanNode",
    "compare",
    "explain",
    "plan_diagram",
    "suggest_indexes",
    "try_index",
]
