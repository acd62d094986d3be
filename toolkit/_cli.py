"""The command line: ``info``, ``demo``, ``bench`` and ``trace``."""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

import numpy as np
import torch
import wrapt

from . import _decorators as deco
from ._convert import to_numpy, to_torch
from ._defaults import default_float_dtype, get_default_device, get_default_float_dtype
from ._dtypes import dtype_table
from ._trace import trace
from ._version import __version__

__all__ = ["main"]


def _devices() -> list[str]:
    found = ["cpu"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            found.append(f"cuda:{i} ({torch.cuda.get_device_name(i)})")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def info() -> None:
    """Print versions, devices, the current defaults and the dtype table."""
    print(f"numpy-torch-toolkit {__version__}")
    print(f"python  {platform.python_version()} ({sys.executable})")
    print(f"numpy   {np.__version__}")
    print(f"torch   {torch.__version__}")
    print(f"wrapt   {getattr(wrapt, '__version__', 'unknown')}")
    print(f"devices {', '.join(_devices())}")
    print(f"default device       {get_default_device()}  (where NumPy data lands under to_torch)")
    fdt = get_default_float_dtype()
    print(f"default float dtype  {fdt if fdt is not None else 'none (floats keep their dtype)'}")
    print()
    print("dtype mapping (torch -> NumPy under to_numpy; NumPy -> torch is the same rows read backwards)")
    rows = [("torch", "NumPy", "note"), *dtype_table()]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for i, row in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _show(label: str, value: Any) -> None:
    text = repr(value).replace("\n", "\n" + " " * 42)
    print(f"  {label:<40}{text}")


def demo() -> None:
    """A short printed tour of the conversions and the decorators."""
    print("numpy-torch-toolkit: NumPy <-> torch without the boilerplate\n")
    print("1. to_torch: NumPy -> torch, sharing memory where it can")
    a = np.arange(4.0)
    t = to_torch(a)
    _show("a = np.arange(4.0)", a)
    _show("to_torch(a)", t)
    t[0] = 10.0
    _show("after t[0] = 10, a is", a)
    _show("to_torch(a[::-1]) (copied)", to_torch(a[::-1]))
    _show("float_dtype='float32'", to_torch({"x": a, "labels": np.array([0, 1])}, float_dtype="float32"))

    print("\n2. to_numpy: torch -> NumPy, instead of .detach().cpu().numpy()")
    w = torch.ones(3, requires_grad=True)
    _show("w = torch.ones(3, requires_grad=True)", w)
    _show("to_numpy(w * 2)", to_numpy(w * 2))
    _show("to_numpy((w * 2).sum())", to_numpy((w * 2).sum()))
    _show("bfloat16 -> float32", to_numpy(torch.ones(2, dtype=torch.bfloat16)))

    print("\n3. @torch_in_numpy_out: the body works in torch, the caller gets NumPy")

    @deco.torch_in_numpy_out
    def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (logits.argmax(-1) == labels).float().mean()

    logits = np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]])
    _show("accuracy(logits, labels)", accuracy(logits, np.array([1, 0, 0])))

    print("\n4. @numpy_inside: legacy NumPy code, called with tensors, returns tensors")

    @deco.numpy_inside
    def moving_average(signal: np.ndarray) -> np.ndarray:
        return np.convolve(signal, np.ones(2) / 2, mode="valid")

    signal = torch.tensor([1.0, 2.0, 4.0, 8.0])
    _show("moving_average(tensor)", moving_average(signal))
    _show("moving_average(array)", moving_average(signal.numpy()))

    print("\n5. default_float_dtype: float64 data arrives as float32 in its scope")
    with default_float_dtype("float32"):
        _show("to_torch(np.zeros(2)).dtype", to_torch(np.zeros(2)).dtype)

    print("\n6. trace: which conversions copied, and why")
    with trace() as log:
        accuracy(logits[:, ::-1], np.array([0, 1, 1]))
    for record in log:
        print(f"  {record}")
    print("\nMore: python -m toolkit info | python -m toolkit bench --quick")


def bench(quick: bool, plot_path: str | None) -> None:
    """Run the benchmark, print its table, and draw it if asked."""
    from . import _bench

    print("running the benchmark" + (" (quick)" if quick else "") + "...", flush=True)
    rows = _bench.run(quick=quick)
    print(_bench.table(rows))
    ours, theirs = _bench.peak_cast_memory()
    print(
        f"\npeak memory of a 64 MiB float64 -> float32 cast: toolkit {ours / 2**20:.1f} MiB, "
        f"astype {theirs / 2**20:.1f} MiB (one output array is 32 MiB)"
    )
    if plot_path:
        _bench.plot(rows, plot_path)
        print(f"plot written to {plot_path}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` when ``None``)."""
    parser = argparse.ArgumentParser(
        prog="python -m toolkit", description="numpy-torch-toolkit: NumPy <-> torch conversion."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "info",
        help="versions, devices, current defaults and the dtype table",
        description="Print versions, the devices present, the current defaults and the dtype table.",
    )
    commands.add_parser("demo", help="a short printed tour", description="A short printed tour of the library.")
    bench_parser = commands.add_parser(
        "bench", help="the overhead benchmark", description="Time toolkit against hand-written conversions."
    )
    bench_parser.add_argument("--quick", action="store_true", help="fewer rounds; finishes in under a minute")
    bench_parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw the table as a bar chart (needs matplotlib)"
    )
    trace_parser = commands.add_parser(
        "trace",
        help="run a program under trace() and print where it copies",
        description="Run SCRIPT.py (or -m MODULE) unchanged under toolkit.trace(); when it ends or is "
        "interrupted, print to standard error where it copied: one row per function and argument path, "
        "largest first, then the total. The program's output and exit code are kept.",
        usage="python -m toolkit trace [--json FILE] (SCRIPT.py | -m MODULE) [ARGS ...]",
    )
    trace_parser.add_argument("--json", metavar="FILE", help="also write the rows to FILE as JSON")
    trace_parser.add_argument("-m", dest="module", metavar="MODULE", help="run a module, as python -m does")
    trace_parser.add_argument("program", nargs=argparse.REMAINDER, help="the script and its arguments")
    args = parser.parse_args(argv)
    if args.command == "trace":
        from ._trace_cli import run_traced

        if args.module is not None:
            return run_traced(args.module, args.program, module=True, json_path=args.json)
        if not args.program:
            trace_parser.error("give a script (SCRIPT.py ARGS) or -m MODULE")
        return run_traced(args.program[0], args.program[1:], module=False, json_path=args.json)
    if args.command == "info":
        info()
    elif args.command == "demo":
        demo()
    else:
        bench(args.quick, args.plot)
    return 0
