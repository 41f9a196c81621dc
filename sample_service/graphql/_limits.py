"""Abuse limits: what one GraphQL request may ask for, each refusal a GraphQL error.

A GraphQL endpoint lets a client write the query, so a request's cost is no longer
fixed by the route: depth, aliases, batched operations and nested page sizes all
multiply the work. Each is capped; the cost of an accepted query is reported in the
response's ``extensions`` and charged to the caller's rate-limit bucket.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from graphql import (
    ExecutionResult as GraphQLExecutionResult,
)
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_list_type,
    is_non_null_type,
    value_from_ast,
)
from strawberry.extensions import SchemaExtension

if TYPE_CHECKING:
    from graphql import DocumentNode, GraphQLField

    from sample_service.graphql._context import Context

MAX_DEPTH = 8
MAX_ALIASES = 15
MAX_BATCH = 5
COST_BUDGET = 500
# Rate limiting by cost: a query takes one token per this much cost (at least one).
COST_PER_TOKEN = 10
# A plain list field without ``first`` (an order's items, the categories) counts this many.
LIST_GUESS = 10


def _page_size(field: GraphQLField, node: FieldNode, variables: dict[str, Any]) -> int:
    """How many children one resolution of this field yields at most."""
    if node.name.value == "edges":  # a connection's edges: already counted by its `first`
        return 1
    arg = field.args.get("first")
    if arg is not None:
        given = next((a for a in node.arguments or () if a.name.value == "first"), None)
        value = value_from_ast(given.value, arg.type, variables) if given else arg.default_value
        return max(int(value or 0), 0)
    unwrapped = field.type.of_type if is_non_null_type(field.type) else field.type
    return LIST_GUESS if is_list_type(unwrapped) else 1


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variables: dict[str, Any] | None = None,
) -> int:
    """The cost of one operation: 1 per field resolved, nested lists multiplying.

    ``products(first: 20) { reviews(first: 5) { author { fullName } } }`` costs
    1 + 20 * (1 + 5 * (1 + 1)) = 221: the rows the query can make the server touch.
    Run after validation (fragments are known, acyclic and well-typed).
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {
        node.name.value: node
        for node in document.definitions
        if isinstance(node, FragmentDefinitionNode)
    }
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    values = variables or {}

    def fields_of(selection_set: SelectionSetNode) -> Iterator[FieldNode]:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from fields_of(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                yield from fields_of(fragments[selection.name.value].selection_set)

    def cost(parent: GraphQLObjectType, selection_set: SelectionSetNode) -> int:
        total = 0
        for node in fields_of(selection_set):
            field = parent.fields.get(node.name.value)
            if field is None:  # __typename and introspection: free
                continue
            children = 0
            child_type = get_named_type(field.type)
            if node.selection_set is not None and isinstance(child_type, GraphQLObjectType):
                children = cost(child_type, node.selection_set)
            total += 1 + _page_size(field, node, values) * children
        return total

    return cost(root, operation.selection_set) if root is not None else 0


class CostLimit(SchemaExtension):
    """Cost each query before it runs: refuse it over the budget, charge the caller's
    rate-limit bucket one token per ``COST_PER_TOKEN``, and report the cost."""

    async def on_execute(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        context: Context = ctx.context
        assert ctx.graphql_document is not None  # execution follows a successful parse
        context.cost = query_cost(
            ctx.schema._schema,
            ctx.graphql_document,
            operation_name=ctx.operation_name,
            variables=ctx.variables,
        )
        refusal = await _refusal(context)
        if refusal is not None:  # a result set here means strawberry does not execute
            ctx.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    def get_results(self) -> dict[str, Any]:
        context: Context = self.execution_context.context
        return {"cost": {"requested": context.cost, "budget": COST_BUDGET}}


async def _refusal(context: Context) -> GraphQLError | None:
    """Why this query may not run: over the budget, or more than the caller's tokens left."""
    if context.cost > COST_BUDGET:
        message = (
            f"query cost {context.cost} exceeds the budget of {COST_BUDGET}; "
            "ask for smaller pages (`first`) or fewer nested lists"
        )
        return GraphQLError(message, extensions={"code": "COST_LIMIT"})
    limiter = context.http_request.app.state.rate_limiter
    tokens = math.ceil(context.cost / COST_PER_TOKEN) - 1  # the middleware took one already
    if limiter is None or tokens <= 0:
        return None
    decision = await limiter.charge(context.http_request.scope, tokens)
    if decision.allowed:
        return None
    context.http_response.status_code = 429
    context.http_response.headers["Retry-After"] = str(decision.retry_after)
    message = (
        f"rate limit: this query costs {tokens + 1} tokens (cost {context.cost}) and "
        f"{decision.remaining} are left; retry after {decision.retry_after} s or ask for less"
    )
    return GraphQLError(message, extensions={"code": "RATE_LIMITED"})
