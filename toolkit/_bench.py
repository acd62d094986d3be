"""The overhead benchmark of section 5 of the contract, side by side in one process.

Each case times ``toolkit`` next to the hand-written code it replaces, in
alternating rounds, and keeps the best round of each (the least disturbed by
the rest of the machine). Ratios, not absolute times, are what carry over
between machines.
"""

from __future__ import annotations

import functools
import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._convert import to_torch
from ._decorators import torch_in_numpy_out

__all__ = ["Row", "run", "table", "plot"]


@dataclass
class Row:
    """One benchmark case: toolkit's time, the baseline's, and the target ratio."""

    case: str
    toolkit_us: float
    baseline: str
    baseline_us: float
    target: float | None

    @property
    def ratio(self) -> float:
        return self.toolkit_us / self.baseline_us


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


def _body(a: Any, b: Any, c: Any) -> Any:
    return a


@torch_in_numpy_out
def _decorated(a: Any, b: Any, c: Any) -> Any:
    return a


def _by_hand(a: Any, b: Any, c: Any) -> Any:
    return _body(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)).numpy()


def _nested_body(batch: Any) -> Any:
    return batch["x0"]


@torch_in_numpy_out
def _nested_decorated(batch: Any) -> Any:
    return batch["x0"]


def _hand_converter(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _hand_converter(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_hand_converter(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj)
    return obj


def _nested_by_hand(batch: Any) -> Any:
    return _nested_body(_hand_converter(batch)).numpy()


def run(quick: bool = False) -> list[Row]:
    """Measure every case; ``quick`` uses fewer rounds and smaller big arrays."""
    scale = 1 if quick else 4
    rows = []
    small = [np.ones(16, np.float32) for _ in range(3)]
    dec, hand = _best([lambda: _decorated(*small), lambda: _by_hand(*small)], number=5_000 * scale, rounds=5 * scale)
    rows.append(Row("decorated call, 3 small float32 arrays", dec, "from_numpy + .numpy() by hand", hand, 1.5))

    batch: dict[str, Any] = {f"x{i}": np.ones(16, np.float32) for i in range(8)}
    batch["extra"] = [np.ones(16, np.float32) for _ in range(4)]
    dec, hand = _best(
        [lambda: _nested_decorated(batch), lambda: _nested_by_hand(batch)], number=1_000 * scale, rounds=5 * scale
    )
    rows.append(Row("nested batch: dict of 8 + list of 4", dec, "recursive converter by hand", hand, 1.3))

    tiny = np.ones(1024 // 8)
    big = np.ones(256 * 2**20 // 8)
    t_big, t_tiny = _best(
        [functools.partial(to_torch, big), functools.partial(to_torch, tiny)], number=200 * scale, rounds=5
    )
    rows.append(Row("to_torch, 256 MiB float64 (zero copy)", t_big, "to_torch, 1 KiB", t_tiny, None))
    del big

    src = np.random.default_rng(0).random(64 * 2**20 // 8)
    number = 2 if quick else 5
    ours, theirs = _best(
        [lambda: to_torch(src, dtype=torch.float32), lambda: src.astype(np.float32)], number=number, rounds=3 * scale
    )
    rows.append(Row("to_torch(dtype=float32), 64 MiB float64", ours, "NumPy astype(float32)", theirs, 1.2))
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


def table(rows: list[Row]) -> str:
    """The rows as a plain-text table."""
    head = ("case", "toolkit", "baseline", "baseline time", "ratio", "target")
    body = [
        (
            r.case,
            _fmt_time(r.toolkit_us),
            r.baseline,
            _fmt_time(r.baseline_us),
            f"{r.ratio:.2f}x",
            f"<= {r.target}x" if r.target else "about 1x",
        )
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
    fig, ax = plt.subplots(figsize=(9, 0.9 * len(rows) + 1.6))
    labels = [r.case for r in rows][::-1]
    ratios = [r.ratio for r in rows][::-1]
    targets = [r.target or 1.0 for r in rows][::-1]
    colors = ["#2a7ab9" if ratio <= target * 1.05 else "#c0392b" for ratio, target in zip(ratios, targets)]
    bars = ax.barh(labels, ratios, color=colors, height=0.55)
    for bar, target in zip(bars, targets):
        y = bar.get_y()
        ax.plot([target, target], [y - 0.1, y + bar.get_height() + 0.1], color="black", linewidth=1.5)
    for bar, ratio, target in zip(bars, ratios, targets):  # the label clears both bar and tick
        ax.text(max(ratio, target) + 0.03, bar.get_y() + bar.get_height() / 2, f"{ratio:.2f}x", va="center")
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("time relative to the hand-written baseline (lower is better; black tick = target)")
    ax.set_title("numpy-torch-toolkit overhead, measured side by side in one process")
    ax.set_xlim(0, max(max(ratios), max(targets)) * 1.25)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
