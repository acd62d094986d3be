"""How the package is put together: each module marks itself for dynamo, imports form no circle,
and ``TOOLKIT_PLAIN=0`` turns every shortcut off."""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import toolkit
from toolkit import _dynamo

PACKAGE = Path(toolkit.__file__).parent
# Not library code a decorated call runs: the entry points and the benchmark (whose bodies
# must stay compilable), and _compiled, whose code compiled callers trace on purpose.
NOT_MARKED = {"__init__", "__main__", "_bench", "_cli", "_version", "_compiled", "_traced"}
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]))
# Module-level functions a compiled caller inlines on purpose (skip_frames(__name__, keep=...)).
TRACED = {"_operator": {"traced_call", "entry"}, "_by_value": {"RemadeOperator"}}


@pytest.mark.parametrize("name", [m for m in MODULES if m not in NOT_MARKED])
def test_every_library_module_marks_its_own_functions_for_dynamo(name):
    module = importlib.import_module(f"toolkit.{name}")
    functions = [
        func
        for key, value in vars(module).items()
        if key not in TRACED.get(name, ())
        for func in _dynamo._functions(value, module.__name__)  # its functions, its classes' methods
    ]
    unmarked = [f.__qualname__ for f in functions if not getattr(f, "_torchdynamo_disable", False)]
    assert not unmarked, f"toolkit.{name} does not mark {unmarked}: end it with skip_frames(__name__)"
    source = (PACKAGE / f"{name}.py").read_text()
    keep = TRACED.get(name)
    last = f"skip_frames(__name__, keep={tuple(sorted(keep))!r})" if keep else "skip_frames(__name__)"
    assert source.rstrip().replace('"', "'").endswith(last)  # marked where it is defined


def test_what_compiled_callers_inline_stays_traceable():
    from toolkit import _operator

    for name in TRACED["_operator"]:
        func = getattr(_operator, name)
        assert not getattr(func, "_torchdynamo_disable", False), name


def test_the_compiled_path_stays_traceable():
    from toolkit import _compiled

    assert not getattr(_compiled.traced, "_torchdynamo_disable", False)


def _imports(name: str) -> set[str]:
    """The package modules ``name`` imports, anywhere in its source (function-level imports too)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("toolkit."):
                found.add(str(arg.value).removeprefix("toolkit."))
    return found & set(MODULES)


def test_the_modules_import_each_other_without_a_circle():
    graph = {name: _imports(name) for name in MODULES if name not in {"__init__", "__main__"}}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AssertionError(f"import circle: {' -> '.join((*path[path.index(name) :], name))}")
        if name in done:
            return
        for other in sorted(graph.get(name, ())):
            visit(other, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())


def test_pickling_a_decorated_function_does_not_import_the_decorators():
    assert not {"_decorators", "_presets"} & _imports("_wrapper")


@pytest.mark.parametrize("value, on", [("0", False), ("1", True), ("", True)])
def test_toolkit_plain_is_read_at_import(value, on):
    code = (
        "import numpy as np, toolkit\n"
        "from toolkit import _shortcuts, _into_torch\n"
        "f = toolkit.torch_in_numpy_out(lambda x: x)\n"
        "plain = type(f).__call__ is not toolkit._wrapper.FastDecoratedFunction.__call__\n"
        "print(_shortcuts.ON, plain, _into_torch.fast_torch(np.ones(2)) is not None)\n"
    )
    env = {**os.environ, "TOOLKIT_PLAIN": value}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(on)] * 3


def test_the_ci_runs_the_suite_with_the_shortcuts_off():
    script = (PACKAGE.parent / ".ci" / "run").read_text()
    assert "TOOLKIT_PLAIN=0 make test" in script
