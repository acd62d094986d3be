"""One answer whatever the call form (contract, section 2), over the shared hostile inputs.

Every decorator, every call form (positional, keyword, inside a list or a
dict, the same object twice), in every setting (none, a trace, a
``default_float_dtype`` scope, ``torch.set_default_device("meta")``,
``torch.no_grad()``, a ``default_device`` naming the CPU), the hostile value
as an argument and as a result: each call is compared with the general
path (the call path's own ``__call__``, which the plain entry shortcuts)
on value, type, dtype, device, grad, writability, memory shared with the
input, and the exception's type and message. A raise on one side only is
a mismatch, and both raising must be the same error. Settings that change
nothing for an input (a trace, ``no_grad``, ``default_device("cpu")`` for
CPU values) must also give what no setting gives.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hostile import HOSTILE, describe, shares

import toolkit
from toolkit import autoconvert, default_device, default_float_dtype


def ident(x, y=None):
    return x


def ident_torch(x: torch.Tensor, y: torch.Tensor | None = None) -> np.ndarray:
    return x


def ident_numpy(x: np.ndarray, y: np.ndarray | None = None) -> torch.Tensor:
    return x


FIXED_DIRECTION = ["numpy_in_torch_out", "torch_in_numpy_out", "numpy_in_numpy_out", "torch_in_torch_out"]
DECORATED: dict[str, Callable[..., Any]] = {
    **{name: getattr(toolkit, name)(ident) for name in (*FIXED_DIRECTION, "numpy_inside", "torch_inside")},
    "autoconvert (tensor in, array out)": autoconvert(ident_torch),
    "autoconvert (array in, tensor out)": autoconvert(ident_numpy),
}


@contextlib.contextmanager
def torch_default_meta() -> Iterator[None]:
    torch.set_default_device("meta")
    try:
        yield
    finally:
        torch.set_default_device(None)


SETTINGS: dict[str, Callable[[], Any]] = {
    "no setting": contextlib.nullcontext,
    "trace": toolkit.trace,
    "default_float_dtype float32": lambda: default_float_dtype("float32"),
    "torch default meta": torch_default_meta,
    "no_grad": torch.no_grad,
    "default_device cpu": lambda: default_device("cpu"),
}
NEUTRAL = ("trace", "no_grad", "default_device cpu")  # change nothing for CPU values


def general(f: Callable[..., Any]) -> Callable[..., Any]:
    """The decorated function's general path: its call path, past any plain entry."""
    path = f._self_wrapper
    return lambda *args, **kwargs: path(f.__wrapped__, None, args, kwargs)


# Each form: how to call with the value, and how to find the answer in the result.
FORMS: dict[str, tuple[Callable[[Callable[..., Any], Any], Any], Callable[[Any], Any], str]] = {
    "positional": (lambda f, a: f(a), lambda out: out, ""),
    "keyword": (lambda f, a: f(x=a), lambda out: out, ""),
    "in a list": (lambda f, a: f([a]), lambda out: out[0], "[0]"),
    "in a dict": (lambda f, a: f({"k": a}), lambda out: out["k"], "['k']"),
    "twice": (lambda f, a: f(a, a), lambda out: out, ""),
    "twice in a list": (lambda f, a: f([a, a]), lambda out: out[0], "[0]"),
}


def outcome(call: Callable[[], Any], pick: Callable[[Any], Any], source: Any, step: str) -> Any:
    """What a comparison looks at: the answer described with its sharing, or the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = call()
    except Exception as exc:
        message = str(exc)
        if step:  # the path names the step into the container: the rest must be the same
            message = message.replace(f"'x'{step}", "'x'").replace(f"return value{step}", "return value")
        return ("raised", type(exc).__name__, message)
    answer = pick(out)
    if step == "[0]" and isinstance(out, list) and len(out) == 2 and out[1] is not answer:
        return ("aliasing lost", describe(answer))
    return (describe(answer), shares(answer, source))


def _cpu(value: Any) -> bool:
    return not (isinstance(value, torch.Tensor) and value.device.type != "cpu")


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("name", DECORATED, ids=str)
def test_every_call_form_gives_the_general_paths_answer_for_every_hostile_argument(name, setting):
    f = DECORATED[name]
    reference = general(f)
    mismatches = []
    for value_name, make in HOSTILE.items():
        values = [make() for _ in range(2 * len(FORMS) + 2)]  # made outside the setting (torch's default)
        with SETTINGS[setting]():
            for form, (call, pick, step) in FORMS.items():
                value, twin = values.pop(), values.pop()
                got = outcome(lambda call=call, value=value: call(f, value), pick, value, step)
                want = outcome(
                    lambda twin=twin: reference(twin), lambda out: out, twin, ""
                )  # sharing: with its own input
                if got != want:
                    mismatches.append(f"{value_name}, {form}: {got} != {want}")
            inside = values.pop()
            expected = outcome(lambda inside=inside: reference(inside), lambda out: out, inside, "")
        if setting in NEUTRAL and _cpu(values[0]):
            first = values[0]
            plain = outcome(lambda first=first: reference(first), lambda out: out, first, "")
            if plain != expected:
                mismatches.append(f"{value_name}: {setting} changed the answer: {plain} != {expected}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
@pytest.mark.parametrize("caller", ["numpy caller", "torch caller"])
@pytest.mark.parametrize("decorator", [*DECORATED], ids=str)
def test_every_hostile_result_comes_back_alike_on_every_call_form(decorator, caller, setting):
    made = {}

    def body(x, y=None):
        return made["make"]()

    if decorator.startswith("autoconvert"):
        into, out = (torch.Tensor, np.ndarray) if "tensor in" in decorator else (np.ndarray, torch.Tensor)
        f = autoconvert(_annotated(body, into, out))
    else:
        f = getattr(toolkit, decorator)(body)
    reference = general(f)
    make_arg = (lambda: np.ones(3, np.float32)) if caller == "numpy caller" else (lambda: torch.ones(3))
    mismatches = []
    for value_name, make in HOSTILE.items():
        made["make"] = make
        args = [make_arg() for _ in range(len(FORMS) + 1)]
        with SETTINGS[setting]():
            arg = args.pop()
            want = outcome(lambda arg=arg: reference(arg), lambda out: out, arg, "")
            for form, (call, _, step) in FORMS.items():
                if step:
                    continue  # the argument inside a container: the result is not
                arg = args.pop()
                got = outcome(lambda call=call, arg=arg: call(f, arg), lambda out: out, arg, "")
                if got != want:
                    mismatches.append(f"{value_name}, {form}: {got} != {want}")
    assert not mismatches, "\n".join(mismatches)


def _annotated(body: Callable[..., Any], into: Any, out: Any) -> Callable[..., Any]:
    def annotated(x, y=None):
        return body(x, y)

    annotated.__annotations__ = {"x": into, "y": into | None, "return": out}
    return annotated


def answers() -> dict[str, Any]:
    """Every decorator's answer for every hostile argument in every call form (no setting)."""
    out = {}
    for name, f in DECORATED.items():
        for value_name, make in HOSTILE.items():
            for form, (call, pick, step) in FORMS.items():
                value = make()
                out[f"{name} / {value_name} / {form}"] = outcome(lambda: call(f, value), pick, value, step)  # noqa: B023
    return out


def test_the_shortcuts_give_the_answers_the_rules_give_with_them_off():
    # The comparisons above run the general path in this process, where the rules' fast cases
    # (fast_torch, fast_numpy) still apply; here a process with TOOLKIT_PLAIN=0 has none at all.
    here = Path(__file__).parent
    code = "import pickle, sys, test_call_forms; sys.stdout.buffer.write(pickle.dumps(test_call_forms.answers()))"
    env = {
        **os.environ,
        "TOOLKIT_PLAIN": "0",
        "PYTHONPATH": os.pathsep.join([str(here), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=here, capture_output=True, check=True)
    without = pickle.loads(done.stdout)
    with_shortcuts = answers()
    assert with_shortcuts.keys() == without.keys()
    differ = [
        f"{key}: {with_shortcuts[key]} != {without[key]}"
        for key in with_shortcuts
        if with_shortcuts[key] != without[key]
    ]
    assert not differ, "\n".join(differ[:20])
