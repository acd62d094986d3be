"""``python -m toolkit trace SCRIPT.py [ARGS...]`` (or ``-m MODULE``): a program run under ``trace()``.

The program runs unchanged, as ``python SCRIPT.py ARGS`` would run it (as
``__main__``, with its ``sys.argv``, its directory first on ``sys.path``),
its own output and exit code kept. When it ends, or is interrupted with
Ctrl-C, a summary of where it copied goes to standard error: one row per
function and argument path, with the calls, the bytes copied and the
reasons, largest first, then the total. ``--json FILE`` writes the rows.

The trace sees the conversions of the program's main thread and of the
asyncio tasks it starts; threads started with ``threading`` and worker
processes (a ``DataLoader``'s) have scopes of their own.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field

from ._dynamo import skip_frames
from ._trace import Record, trace

__all__ = ["Row", "rows_of", "run_traced", "table"]


@dataclass
class Row:
    """The copies one function made at one argument path."""

    function: str
    path: str
    calls: int = 0
    bytes_copied: int = 0
    reasons: list[str] = field(default_factory=list)


def rows_of(records: Iterable[Record]) -> list[Row]:
    """The copies grouped by function and path, largest first."""
    rows: dict[tuple[str, str], Row] = {}
    for r in records:
        if not r.copied:
            continue
        row = rows.setdefault((r.function, r.path), Row(r.function, r.path))
        row.calls += 1
        row.bytes_copied += r.nbytes
        if r.reason and r.reason not in row.reasons:
            row.reasons.append(r.reason)
    return sorted(rows.values(), key=lambda row: (-row.bytes_copied, row.function, row.path))


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def table(rows: list[Row], conversions: int) -> str:
    """The summary as printed: a row per function and path, then the total."""
    if not rows:
        return f"toolkit trace: {conversions} conversions, no copies"
    head = ("function", "path", "calls", "copied", "reasons")
    body = [(r.function, r.path, str(r.calls), _size(r.bytes_copied), ", ".join(r.reasons)) for r in rows]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(5)]
    lines = ["toolkit trace: where the program copied"]
    for line in (head, tuple("-" * w for w in widths), *body):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
    total = sum(r.bytes_copied for r in rows)
    calls = sum(r.calls for r in rows)
    lines.append(f"total: {_size(total)} copied in {calls} copies, of {conversions} conversions")
    return "\n".join(lines)


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"), as Python prints it
    return 1


def run_traced(target: str, args: list[str], module: bool, json_path: str | None = None) -> int:
    """Run the script (or module) ``target`` with ``args`` under ``trace()``; its exit code."""
    if module:
        sys.argv = [target, *args]
        sys.path.insert(0, os.getcwd())
    else:
        sys.argv = [target, *args]
        sys.path.insert(0, os.path.dirname(os.path.abspath(target)))
    code = 0
    with trace() as log:
        try:
            if module:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(target, run_name="__main__")
        except SystemExit as exc:
            code = _exit_code(exc)
        except KeyboardInterrupt:
            code = 130
            print("KeyboardInterrupt", file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
    rows = rows_of(log.records)
    sys.stdout.flush()
    print(table(rows, len(log.records)), file=sys.stderr)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as out:
            json.dump([vars(r) for r in rows], out, indent=2)
    return code


skip_frames(__name__)
