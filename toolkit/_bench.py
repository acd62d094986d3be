"""The benchmark of the performance contract, side by side in one process.

Each case times ``toolkit`` next to the hand-written code it replaces, in
alternating rounds, and keeps the best round of each (the least disturbed
by the rest of the machine). Ratios, not absolute times, are what carry
over between machines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import os
import pickle
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import _decorators as deco
from ._across import dumps, loads
from ._containers import register_container
from ._convert import to_torch

__all__ = ["Row", "peak_cast_memory", "plot", "run", "table"]


@dataclass
class Row:
    """One benchmark case: toolkit's time, the baseline's, and the target ratio."""

    case: str
    toolkit_us: float
    baseline: str
    baseline_us: float
    target: float | None  # None: "about 1x"; 0: reported, no target

    @property
    def ratio(self) -> float:
        return self.toolkit_us / self.baseline_us


@contextlib.contextmanager
def _one_cpu() -> Iterator[None]:
    """Run on one CPU while measuring (where the OS allows): no migration between cores mid-round."""
    pin = getattr(os, "sched_setaffinity", None)
    allowed = os.sched_getaffinity(0) if pin is not None else set()
    if pin is None or len(allowed) < 2:
        yield
        return
    pin(0, {max(allowed)})
    try:
        yield
    finally:
        pin(0, allowed)


def _best(fns: list[Callable[[], Any]], number: int, rounds: int) -> list[float]:
    """Best time per call (microseconds) of each function, measured in alternation."""
    best = [float("inf")] * len(fns)
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for i, fn in enumerate(fns):
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                best[i] = min(best[i], (time.perf_counter() - start) / number * 1e6)
    finally:
        if was_enabled:
            gc.enable()
    return best


# -- the per-call cases: three float32 arrays of 16 elements, body a + b * c ---------------


def _body(a: Any, b: Any, c: Any) -> Any:
    return a + b * c


def _np(t: torch.Tensor) -> np.ndarray[Any, Any]:
    return t.numpy()


def _decorator_cases() -> list[tuple[str, Callable[[], Any], str, Callable[[], Any]]]:
    """(case, toolkit's call, baseline's name, baseline's call) for each decorator."""
    arrays = [np.full(16, i + 1, np.float32) for i in range(3)]
    tensors = [torch.from_numpy(a) for a in arrays]
    doubles = [torch.full((16,), i + 1.0, dtype=torch.float64) for i in range(3)]
    a, b, c = arrays
    ta, tb, tc = tensors
    da, db, dc = doubles
    f = torch.from_numpy

    @deco.autoconvert
    def annotated(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> np.ndarray[Any, Any]:
        return a + b * c  # type: ignore[return-value]  # the annotation says what the caller receives

    to_np, to_t = "from_numpy per argument, .numpy() on the result", ".numpy() per argument, from_numpy on the result"
    return [
        ("torch_in_numpy_out, NumPy caller", lambda: _t2n(a, b, c), to_np, lambda: _body(f(a), f(b), f(c)).numpy()),
        (
            "numpy_in_torch_out, torch caller",
            lambda: _n2t(ta, tb, tc),
            to_t,
            lambda: f(_body(_np(ta), _np(tb), _np(tc))),
        ),
        (
            "numpy_in_numpy_out, torch caller",
            lambda: _n2n(ta, tb, tc),
            ".numpy() per argument",
            lambda: _body(_np(ta), _np(tb), _np(tc)),
        ),
        (
            "torch_in_torch_out, NumPy caller",
            lambda: _t2t(a, b, c),
            "from_numpy per argument",
            lambda: _body(f(a), f(b), f(c)),
        ),
        (
            "numpy_inside, float64 tensor caller",
            lambda: _ni(da, db, dc),
            to_t,
            lambda: f(_body(_np(da), _np(db), _np(dc))),
        ),
        ("torch_inside, NumPy caller", lambda: _ti(a, b, c), to_np, lambda: _body(f(a), f(b), f(c)).numpy()),
        ("autoconvert, NumPy caller", lambda: annotated(a, b, c), to_np, lambda: _body(f(a), f(b), f(c)).numpy()),
    ]


_t2n = deco.torch_in_numpy_out(_body)
_n2t = deco.numpy_in_torch_out(_body)
_n2n = deco.numpy_in_numpy_out(_body)
_t2t = deco.torch_in_torch_out(_body)
_ni = deco.numpy_inside(_body)
_ti = deco.torch_inside(_body)


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(16, 4)

    @deco.torch_in_numpy_out
    def forward(self, x: torch.Tensor) -> Any:
        return self.linear(x)


class _ByHand(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(16, 4)

    def forward(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        p = next(self.parameters())
        out: np.ndarray[Any, Any] = self.linear(torch.from_numpy(x).to(p.device, p.dtype)).detach().numpy()
        return out


def _nested_body(batch: Any) -> Any:
    return batch["x0"]


_nested = deco.torch_in_numpy_out(_nested_body)


@dataclasses.dataclass
class _DataclassBatch:
    images: Any
    extra: Any


class _RegisteredBatch:
    """The same batch in a class of the user's, registered with ``fields=``."""

    def __init__(self, images: Any, extra: Any) -> None:
        self.images, self.extra = images, extra


register_container(_RegisteredBatch, fields=("images", "extra"))


def _hand_converter(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _hand_converter(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_hand_converter(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    return obj


def _compiled_rows(quick: bool) -> list[Row]:
    """``numpy_inside`` against ``numpy_inside(compile=True)`` on one body, small and large, steady state."""

    def normalise(x: Any, w: Any) -> Any:
        z = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
        return np.tanh(np.clip(z, -3.0, 3.0) @ w).sum(axis=1)

    plain, compiled = deco.numpy_inside(normalise), deco.numpy_inside(compile=True)(normalise)
    rows = []
    for n in (64, 4096):
        x = torch.randn(n, 256)
        w = torch.randn(256, 256) / 16
        start = time.perf_counter()
        compiled(x, w)  # compiles: timed apart
        first = time.perf_counter() - start
        number = 20 if n < 1000 else 3
        ours, theirs = _best(
            [functools.partial(compiled, x, w), functools.partial(plain, x, w)], number=number, rounds=3 if quick else 6
        )
        case = f"numpy_inside(compile=True), {n}x256 float32 (first call {first:.1f} s)"
        rows.append(Row(case, ours, "numpy_inside", theirs, 0))
    return rows


def run(quick: bool = False, compiled: bool = True) -> list[Row]:
    """Measure every case; ``quick`` uses fewer rounds.

    The per-call cases run pinned to one CPU where the OS allows; compiled
    NumPy bodies run on every core, as their kernels do.
    """
    with _one_cpu():
        rows = _run(quick)
    return rows + _compiled_rows(quick) if compiled else rows


def _operator_case() -> tuple[str, Callable[[], Any], str, Callable[[], Any], float, int]:
    """``numpy_inside(op=...)`` called eagerly against the same ``custom_op`` written by hand."""

    def body(a: Any, b: Any, c: Any) -> Any:
        return a + b * c

    ours = deco.numpy_inside(op="toolkit_bench::ours")(body)

    def kernel(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(body(a.numpy(), b.numpy(), c.numpy()))

    hand = torch.library.custom_op("toolkit_bench::by_hand", kernel, mutates_args=())
    a, b, c = (torch.ones(16) for _ in range(3))
    return (
        "NumPy operator (op=...), 3 tensors",
        lambda: ours(a, b, c),
        "custom_op by hand",
        lambda: hand(a, b, c),
        1.5,
        100,
    )


def _run(quick: bool) -> list[Row]:
    scale = 1 if quick else 4
    model, hand = _Model(), _ByHand()
    batch = np.ones((8, 16), np.float32)
    nested: dict[str, Any] = {f"x{i}": np.ones((16, 16), np.float32) for i in range(8)}
    nested["extra"] = [np.ones((16, 16), np.float32) for _ in range(4)]
    cases = [(case, ours, baseline, theirs, 1.5, 200) for case, ours, baseline, theirs in _decorator_cases()]
    module = "from_numpy(x).to(p.device, p.dtype) by hand"
    cases.append(("nn.Module.forward, NumPy batch", lambda: model(batch), module, lambda: hand(batch), 1.5, 100))
    cases.append(
        (
            "nested batch: dict of 8 + list of 4",
            lambda: _nested(nested),
            "recursive converter by hand",
            lambda: _nested_body(_hand_converter(nested)).numpy(),
            1.3,
            100,
        )
    )
    images = {k: v for k, v in nested.items() if k != "extra"}
    registered, dataclass = _RegisteredBatch(images, nested["extra"]), _DataclassBatch(images, nested["extra"])
    cases.append(
        (
            "registered class (fields=) holding the batch",
            lambda: to_torch(registered),
            "the same in a dataclass",
            lambda: to_torch(dataclass),
            1.3,
            100,
        )
    )
    cases.append(_operator_case())
    # Many short rounds, alternating, in passes over all the cases: the best of each is what the
    # machine gives when it is quiet, and a busy second spoils one pass of a case, not all of them.
    best: dict[str, list[float]] = {}
    for _ in range(4):
        for case, ours, _name, theirs, _target, number in cases:
            times = _best([ours, theirs], number=number, rounds=12 * scale)
            best[case] = [min(a, b) for a, b in zip(best.get(case, times), times)]
    rows = [Row(case, best[case][0], name, best[case][1], target) for case, _o, name, _t, target, _n in cases]

    t_big, t_tiny = _best(
        [functools.partial(to_torch, np.ones(256 * 2**20 // 8)), functools.partial(to_torch, np.ones(1024 // 8))],
        number=200 * scale,
        rounds=5,
    )
    rows.append(Row("to_torch, 256 MiB float64 (zero copy)", t_big, "to_torch, 1 KiB", t_tiny, None))

    src = np.random.default_rng(0).random(64 * 2**20 // 8)
    number = 2 if quick else 5
    t_ours, t_theirs = _best(
        [lambda: to_torch(src, dtype=torch.float32), lambda: src.astype(np.float32)], number=number, rounds=3 * scale
    )
    rows.append(Row("to_torch(dtype=float32), 64 MiB float64", t_ours, "NumPy astype(float32)", t_theirs, 1.2))
    tensor = torch.ones(64 * 2**20 // 4)
    t_ours, t_theirs = _best(
        [lambda: loads(*dumps(tensor)), lambda: pickle.loads(pickle.dumps(tensor, protocol=5))],
        number=1,
        rounds=3 * scale,
    )
    rows.append(Row("dumps + loads, 64 MiB tensor", t_ours, "pickle protocol 5 (torch's reduction)", t_theirs, 0))
    return rows


def peak_cast_memory() -> tuple[int, int]:
    """Peak bytes NumPy allocates for a 64 MiB float64 -> float32 cast: toolkit's, astype's."""
    src = np.random.default_rng(0).random(64 * 2**20 // 8)
    peaks = []
    for fn in (lambda: to_torch(src, dtype=torch.float32), lambda: src.astype(np.float32)):
        tracemalloc.start()
        out = fn()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        del out
    return peaks[0], peaks[1]


def _fmt_time(us: float) -> str:
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.2f} us"


def _target(row: Row) -> str:
    if row.target is None:
        return "about 1x"
    return f"<= {row.target}x" if row.target else "(reported)"


def table(rows: list[Row]) -> str:
    """The rows as a plain-text table."""
    head = ("case", "toolkit", "baseline", "baseline time", "ratio", "target")
    body = [
        (r.case, _fmt_time(r.toolkit_us), r.baseline, _fmt_time(r.baseline_us), f"{r.ratio:.2f}x", _target(r))
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() for line in [head, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(rows: list[Row], path: str) -> None:
    """Draw the ratios as horizontal bars, each with its target, into ``path`` (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit("--plot needs matplotlib: pip install 'numpy-torch-toolkit[plot]'") from exc
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(rows) + 1.8))
    labels = [r.case for r in rows][::-1]
    ratios = [r.ratio for r in rows][::-1]
    targets = [r.target if r.target is not None else 1.0 for r in rows][::-1]
    colors = [
        "#7f8c8d" if not target else "#2a7ab9" if ratio <= target * 1.05 else "#c0392b"
        for ratio, target in zip(ratios, targets)
    ]
    bars = ax.barh(labels, ratios, color=colors, height=0.55)
    for bar, target in zip(bars, targets):
        if target:
            y = bar.get_y()
            ax.plot([target, target], [y - 0.1, y + bar.get_height() + 0.1], color="black", linewidth=1.5)
    for bar, ratio, target in zip(bars, ratios, targets):  # the label clears both bar and tick
        ax.text(max(ratio, target) + 0.03, bar.get_y() + bar.get_height() / 2, f"{ratio:.2f}x", va="center")
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel(
        "time relative to the hand-written baseline\n(lower is better; black tick: target; grey: reported, no target)"
    )
    ax.set_title("numpy-torch-toolkit against hand-written code, side by side")
    ax.set_xlim(0, max(max(ratios), max(targets)) * 1.25)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
