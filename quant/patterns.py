"""Node-id patterns of precision policies, restricted so that matching can never backtrack catastrophically.

A policy rule selects nodes by a glob (``match``) or a regular expression (``regex``). Both are checked
when the policy is loaded:

* **Globs** (``fnmatch``: ``*``, ``?``, ``[...]``): at most :data:`MAX_GLOB_CHARS` characters and
  :data:`MAX_GLOB_STARS` stars. Python 3.11 translates each star but the last into an atomic group, so a
  glob matches in time linear in the node id per star.
* **Regular expressions** (``re.fullmatch`` over the node id) are accepted only in a safe subset, checked
  on the parsed pattern:

  - at most :data:`MAX_REGEX_CHARS` characters;
  - a quantifier (``*``, ``+``, ``?``, ``{m,n}``) applies to **one character item** only (a literal,
    ``.``, an escape such as ``\\d``, or a class ``[...]``): no quantified group, hence no nested
    quantifier and no quantified alternation (``(a+)+``, ``(a|ab)*``, ``([a-z0-9_.]+)*`` are refused);
  - at most :data:`MAX_REGEX_REPEATS` repeating quantifiers (``*``, ``+``, ``{m,n}`` with n > 1, n at
    most 1000) in the whole pattern, and a branching factor (the product of the alternatives of every
    ``|`` group, times 2 for every ``?``) of at most :data:`MAX_REGEX_BRANCHING`;
  - no backreference, lookahead/lookbehind, conditional, atomic group or possessive quantifier.

  A backtracking match then tries at most ``branching x (L+1)^repeats`` paths for a node id of L
  characters. With node ids of at most 256 characters (``components.fileio.limits.MAX_NAME_CHARS``) the worst
  accepted pattern takes ~10 ms per node id here (``tests/fuzz/test_examples.py`` bounds it), where
  ``^([a-z0-9_.]+)*$`` takes exponential time.
"""
from __future__ import annotations

import fnmatch
import re
from functools import lru_cache

try:  # Python >= 3.11
    from re import _constants as _c, _parser as _p  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

__all__ = ["MAX_GLOB_CHARS", "MAX_GLOB_STARS", "MAX_REGEX_CHARS", "MAX_REGEX_REPEATS", "MAX_REGEX_BRANCHING",
           "check_glob", "check_regex", "glob_matches", "regex_matches"]

MAX_GLOB_CHARS = 256
MAX_GLOB_STARS = 16
MAX_REGEX_CHARS = 128
MAX_REGEX_REPEATS = 2
MAX_REGEX_BRANCHING = 16
MAX_COUNTED_REPEAT = 1000

_SINGLE = {_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN}
_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT}
_PLAIN = _SINGLE | {_c.AT}


def check_glob(pattern: str) -> None:
    """Raise ValueError unless glob ``pattern`` is within the limits of the module docstring."""
    if len(pattern) > MAX_GLOB_CHARS:
        raise ValueError(f"glob of {len(pattern)} characters (limit {MAX_GLOB_CHARS})")
    if pattern.count("*") > MAX_GLOB_STARS:
        raise ValueError(f"glob with {pattern.count('*')} '*' (limit {MAX_GLOB_STARS})")
    if "\x00" in pattern:
        raise ValueError("glob contains a NUL character")


def _walk(sub, counts: list[int]) -> None:
    """counts = [repeating quantifiers, branching factor]."""
    for op, av in sub:
        if op in _REPEATS:
            lo, hi, item = av
            if hi == 1:
                counts[1] *= 2
            elif hi != 0:
                counts[0] += 1
            items = list(item)
            if len(items) != 1 or items[0][0] not in _SINGLE:
                raise ValueError("a quantifier may only follow one character, '.', an escape or a class [...]; "
                                 "a quantified group can backtrack catastrophically")
            if hi != _c.MAXREPEAT and hi > MAX_COUNTED_REPEAT:
                raise ValueError(f"counted repeat {{{lo},{hi}}} above {MAX_COUNTED_REPEAT}")
        elif op == _c.SUBPATTERN:
            _walk(av[-1], counts)
        elif op == _c.BRANCH:
            alternatives = av[1]
            counts[1] *= len(alternatives)
            for a in alternatives:
                _walk(a, counts)
        elif op not in _PLAIN:
            raise ValueError(f"'{str(op).lower()}' is not accepted (no backreferences, lookarounds, conditionals, "
                             "atomic groups or possessive quantifiers)")


@lru_cache(maxsize=4096)
def check_regex(pattern: str) -> re.Pattern:
    """The compiled ``pattern`` if it is in the safe subset of the module docstring; else ValueError."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise ValueError(f"regex of {len(pattern)} characters (limit {MAX_REGEX_CHARS})")
    try:
        parsed = _p.parse(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        raise ValueError(f"bad regex ({e})") from None
    counts = [0, 1]
    _walk(parsed, counts)
    if counts[0] > MAX_REGEX_REPEATS:
        raise ValueError(f"regex with {counts[0]} repeating quantifiers (*, +, {{m,n}}; limit {MAX_REGEX_REPEATS})")
    if counts[1] > MAX_REGEX_BRANCHING:
        raise ValueError(f"regex with a branching factor of {counts[1]} (alternatives x 2 per '?'; limit "
                         f"{MAX_REGEX_BRANCHING})")
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as e:  # pragma: no cover - parse succeeded
        raise ValueError(f"bad regex ({e})") from None


def glob_matches(pattern: str, text: str) -> bool:
    """``fnmatch.fnmatchcase`` (case-sensitive glob)."""
    return fnmatch.fnmatchcase(text, pattern)


def regex_matches(pattern: str, text: str) -> bool:
    """``re.fullmatch`` of a pattern accepted by :func:`check_regex`."""
    return check_regex(pattern).fullmatch(text) is not None
