"""The fuzz strategies themselves: what they draw must not depend on what earlier draws did."""
from hypothesis import given, settings, strategies as st

from strategies import HOSTILE, mutated

_SNAPSHOT = repr(HOSTILE)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.data())
def test_mutations_never_edit_the_hostile_values(data):
    """mutated() edits values it inserted (appends to a list, adds a key); the inserted values are copies, so
    HOSTILE (the pool every later draw samples) stays as it was."""
    doc = {"a": [1, [2]], "b": {"c": 1}}
    for _ in range(4):
        doc = data.draw(mutated(doc, 3))
    assert repr(HOSTILE) == _SNAPSHOT
