"""python -m toolkit trace SCRIPT.py / -m MODULE: the program unchanged, then where it copied."""

import json
import subprocess
import sys

import pytest

SCRIPT = """
import sys
import numpy as np
from toolkit import torch_in_numpy_out

@torch_in_numpy_out
def mean(batch):
    return batch * 2

data = np.lib.format.open_memmap(sys.argv[1], mode="w+", dtype=np.float32, shape=(64, 16))
data[:] = 1.0
data.flush()
frozen = np.load(sys.argv[1], mmap_mode="r")  # read-only pages: a copy on every call
for step in range(5):
    mean(frozen[step * 8 : step * 8 + 8])
mean(np.ones(4, np.float32))  # shared: no row
print("program output", sys.argv[2:])
sys.exit(int(sys.argv[2]))
"""


def _run(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "toolkit", "trace", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


@pytest.mark.slow
def test_a_script_runs_unchanged_and_its_copies_are_summed_up(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    rows = tmp_path / "rows.json"
    ran = _run(["--json", str(rows), str(script), str(tmp_path / "data.npy"), "3", "extra"], tmp_path)
    assert ran.returncode == 3, ran.stderr  # the program's own exit code
    assert ran.stdout.strip() == "program output ['3', 'extra']"  # and its own output, alone
    summary = ran.stderr
    assert "mean()" in summary and "argument 'batch'" in summary and "read-only array" in summary
    assert "total: 2.5 KiB copied in 5 copies, of 12 conversions" in summary
    (row,) = json.loads(rows.read_text())
    assert row == {
        "function": "mean()",
        "path": "argument 'batch'",
        "calls": 5,
        "bytes_copied": 5 * 8 * 16 * 4,
        "reasons": ["read-only array"],
    }


@pytest.mark.slow
def test_a_module_and_an_interrupted_program(tmp_path):
    (tmp_path / "job.py").write_text(
        "import numpy as np, toolkit\ntoolkit.to_torch(np.ones(3)[::-1])\nraise KeyboardInterrupt\n"
    )
    ran = _run(["-m", "job"], tmp_path)
    assert ran.returncode == 130
    assert "to_torch()" in ran.stderr and "negative strides" in ran.stderr and "total: 24 B" in ran.stderr


def test_trace_needs_a_program():
    ran = subprocess.run([sys.executable, "-m", "toolkit", "trace"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 2 and "SCRIPT.py" in ran.stderr
