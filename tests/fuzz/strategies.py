"""Hypothesis strategies of the fuzz suite: hostile values, mutations of JSON-like documents, small graphs,
machines, policies, profiles and command lines."""
from __future__ import annotations

import copy

from hypothesis import strategies as st

KINDS = ["conv", "relu", "norm", "add", "linear", "matmul", "softmax", "upsample", "concat", "mean", "silu"]

HOSTILE = (
    -1, 0, 1, 2, -10**6, 2**31, 2**53 + 1, 2**63, 10**30, 1.5, -0.0, 1e-300, 1e300, float("nan"), float("inf"),
    float("-inf"), True, False, None, "", "lots", "1", "1e999", "NaN", "\x00", "x" * 300, [], [1], [[1, 2]], {},
    {"a": 1}, {"kernel": [3, 3]}, [-1, 2], [0, 0], "conv", "relu", "*", ".*",
)


def hostile() -> st.SearchStrategy:
    """A value a schema must refuse or survive: edge numbers, wrong types, NaN, huge, nested."""
    # a fresh copy of each list or dict: mutated() edits the values it inserted (dup, add, delete), which must
    # never reach HOSTILE itself (a changed constant made later draws differ: hypothesis's FlakyStrategyDefinition)
    return st.one_of(st.sampled_from(HOSTILE).map(copy.deepcopy), st.integers(-2**70, 2**70),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                     st.lists(st.integers(-5, 5), max_size=4))


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:12]):  # the first items of long lists are enough
            yield from _paths(v, prefix + (i,))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutated(draw, doc, max_mutations: int = 3):
    """``doc`` (a JSON-like tree) with 0..max_mutations edits: replace a value, delete a key or item, add an
    unknown key, duplicate an item, wrap a value in a list."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add", "dup", "wrap"]))
        if op == "replace":
            parent[key] = draw(hostile())
        elif op == "delete":
            del parent[key]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["colour", "extra", "kind2", "", "id"]))] = draw(hostile())
        elif op == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        else:
            parent[key] = [parent[key]]
    return doc


@st.composite
def layer_lists(draw, max_layers: int = 8):
    """Layers for :func:`fuzzlib.small_graph`."""
    return draw(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 24)), max_size=max_layers))


def small_graph_docs() -> st.SearchStrategy:
    from fuzzlib import small_graph
    return st.builds(small_graph, layer_lists(), channels=st.integers(1, 16), side=st.integers(1, 8))


MACHINES = ["sqdm", "int4-dense", "int4vsq-dense", "fp16-dense"]


def steps_values() -> st.SearchStrategy:
    """Mostly small valid step counts, sometimes out of bounds or not numbers."""
    return st.one_of(st.sampled_from(["1", "2", "3"]),
                     st.sampled_from(["0", "-1", "100001", "1000000000000", "1e3", "two", "", " 2", "0x10", "nan"]))


def finite_or_not() -> st.SearchStrategy:
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.sampled_from(["0.5", "0", "1", "-0.1", "1.1", "nan", "inf", "x", ""]))
