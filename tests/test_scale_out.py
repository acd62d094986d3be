"""The torchrun script of docs/scale-out.rst, run as the page says, with two CPU processes."""

import os
import re
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "docs", "_static", "torchrun_embed.py")


@pytest.mark.slow
def test_the_torchrun_script_places_each_process_on_its_own_device(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE")}
    ran = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=0", SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    # the two processes share one stdout: their lines may run together
    lines = sorted(re.findall(r"rank \d: \w+, float32, \d+\.\d{3}", ran.stdout))
    assert lines == ["rank 0: cpu, float32, 0.000", "rank 1: cpu, float32, 2.773"], ran.stdout
