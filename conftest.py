"""Settings shared by the tests and the doctests in README.md, docs/ and docstrings."""

import doctest
import re
import sys
import types

import hypothesis  # noqa: F401  imported now, not parsed after a compile (see below)
import numpy as np
import pytest
import torch

# After torch.compile has run, Python 3.11.7's parser can fail with "AST constructor recursion
# depth mismatch" (CPython gh-106905, fixed in 3.11.8); hypothesis's pytest plugin imports
# hypothesis lazily at the end of a session, so it is imported here, before anything compiles.

# `# doctest: +CUDA` marks an example that needs a GPU: it runs where CUDA is
# present and is skipped elsewhere (each such example has a CPU twin that runs).
doctest.OPTIONFLAGS_BY_NAME.setdefault("CUDA", 0 if torch.cuda.is_available() else doctest.SKIP)

# The docs show what the newest NumPy prints (`np.float32(0.5)`). NumPy 1.x
# prints scalars bare (`0.5`), so there the expected output is read the
# NumPy 1 way before it is compared.
if np.lib.NumpyVersion(np.__version__) < "2.0.0":
    _SCALAR = re.compile(
        r"np\.(?:float|int|uint|complex|bool|str|bytes)\w*\(((?:[^()]|\([^()]*\))*)\)|np\.(True|False)_"
    )
    _check = doctest.OutputChecker.check_output

    def _numpy1_check(self, want, got, optionflags):
        return _check(self, _SCALAR.sub(lambda m: m.group(1) or m.group(2), want), got, optionflags)

    doctest.OutputChecker.check_output = _numpy1_check


class _DoctestMain(types.ModuleType):
    """A stand-in ``__main__`` that reads a doctest's namespace.

    Functions defined in a doctest have ``__module__ == "__main__"`` but live
    in the doctest's own dict, and torch.compile looks globals up through
    their module: without this, ``np`` in a compiled doc example is missing.
    """

    def __init__(self, namespace):
        super().__init__("__main__")
        self._namespace = namespace

    def __getattr__(self, name):
        try:
            return self._namespace[name]
        except KeyError:
            raise AttributeError(name) from None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    namespace = getattr(getattr(item, "dtest", None), "globs", None)
    if namespace is None or namespace.get("__name__") != "__main__":
        yield
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = _DoctestMain(namespace)
    try:
        yield
    finally:
        sys.modules["__main__"] = main
