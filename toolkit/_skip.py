"""``skip=``: values inside the arguments (and the result) left where they are.

A path is written as errors print it, rooted at the parameter name (for a
``**kwargs`` value, its keyword) or at ``return value``: ``"batch['meta']"``,
``"batch.ids"``, ``"batch['past'][*]"``, ``*`` standing for any one key or
index (``[*]``) or attribute (``.*``). Or a callable ``(path, value) -> bool``
that gets paths in that same form.

How it works: before a call converts, the values at skipped paths are found
(only then are paths built) and put in the call's memo as their own
results, so the walk hands each back as the same object, and never looks
inside. An object reached both at a skipped path and elsewhere is one
object: it stays itself in both places, as aliasing says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ._dynamo import skip_frames
from ._tree import ATOM, KEEP, LEAF, Memo, kind_of, members, piece

__all__ = ["Skip", "parse_skip", "seed"]

#: ``(path, value) -> bool``: whether the value at ``path`` stays as it is
Skip = Callable[[str, Any], bool]

_ROOT = re.compile(r"^(return value|yielded value|[A-Za-z_][A-Za-z0-9_]*)")
_STEP = re.compile(r"""\.(\*|[A-Za-z_][A-Za-z0-9_]*)|\[(\*|\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]""")
_RESULTS = ("return value", "yielded value")


def _pattern(path: str, where: str) -> tuple[str, re.Pattern[str]]:
    """The root of a skip path and a regex that matches the paths it names."""
    root = _ROOT.match(path)
    if root is None:
        raise TypeError(f"{where}: skip= path {path!r} must start with a parameter name or 'return value'")
    at, parts = root.end(), [re.escape(root.group(1))]
    while at < len(path):
        step = _STEP.match(path, at)
        if step is None:
            raise TypeError(
                f"{where}: skip= path {path!r} is not written as errors write paths "
                "(name['key'], name[0] with no negative index, name.attribute, with * for any one)"
            )
        attr, key = step.group(1), step.group(2)
        if attr == "*":
            parts.append(r"\.[^.\[]+")
        elif key == "*":
            parts.append(r"\[[^\]]*\]")
        elif key is not None and key[0] == '"':  # "key" and 'key' name the same key; errors print repr()
            parts.append(re.escape("[" + repr(key[1:-1]) + "]"))
        else:
            parts.append(re.escape(step.group(0)))
        at = step.end()
    return root.group(1), re.compile("".join(parts))


def parse_skip(
    value: str | Iterable[str] | Skip | None,
    where: str,
    check_root: Callable[[str], bool],
    star: str | None = None,
    starstar: str | None = None,
) -> Skip | None:
    """The ``skip=`` option as a predicate, checked when the decorator is applied."""
    if value is None:
        return None
    if callable(value):
        return value
    try:
        paths = [value] if isinstance(value, str) else list(value)
    except TypeError:
        paths = []
    if not paths or not all(isinstance(p, str) for p in paths):
        raise TypeError(f"{where}: skip= takes a path, a list of paths or a callable, got {value!r}")
    patterns = []
    for path in paths:
        root, pattern = _pattern(path, where)
        if root == star and path == root:
            root, pattern = _pattern(path + "[*]", where)  # the *args parameter: every extra positional
        if root == starstar and path == root:
            raise TypeError(
                f"{where}: skip= path {path!r} names the **{root} parameter; a keyword argument's path "
                "starts at its keyword (skip='flag' for f(flag=...))"
            )
        if root not in _RESULTS and not check_root(root):
            raise TypeError(f"{where}: skip= path {path!r} starts at {root!r}, which is not a parameter")
        patterns.append(pattern)

    def skip(path: str, value: Any) -> bool:
        return any(p.fullmatch(path) for p in patterns)

    return skip


def seed(skip: Skip, roots: Iterable[tuple[str, Any]]) -> Memo:
    """A memo that holds each value at a skipped path as its own result (and keeps it alive)."""
    memo: Memo = {KEEP: []}
    seen: set[int] = set()

    def visit(path: str, value: Any) -> None:
        kind = kind_of(type(value))
        if kind == ATOM:
            return
        if skip(path, value):  # before the look at what was seen: a later path may skip it too
            memo[id(value)] = value
            memo[KEEP].append(value)
            return
        if kind == LEAF or id(value) in seen:
            return
        seen.add(id(value))  # a cycle is the walk's to report
        try:
            found = list(members(value, kind))
        except Exception:  # a flatten that fails: the walk raises it, with the path
            return
        for key, member in found:
            visit(path + piece(value, kind, key), member)

    for root, value in roots:
        visit(root, value)
    return memo


skip_frames(__name__)
