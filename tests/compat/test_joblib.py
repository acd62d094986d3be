"""joblib's Parallel with the loky backend: decorated functions reach worker processes decorated."""

import numpy as np
import pytest
import torch

from toolkit import numpy_inside, torch_in_numpy_out

joblib = pytest.importorskip("joblib", reason="joblib is not installed")
pytestmark = pytest.mark.slow


@torch_in_numpy_out(float_dtype="float32")
def module_level(x):
    assert isinstance(x, torch.Tensor) and x.dtype is torch.float32
    return x * 2


def test_parallel_loky_with_two_workers():
    @numpy_inside
    def local(x):  # a local function: cloudpickle carries it by value
        assert isinstance(x, np.ndarray)
        return x + 1

    with joblib.parallel_config(backend="loky", n_jobs=2):
        doubled = joblib.Parallel()(joblib.delayed(module_level)(np.full(2, i, np.float64)) for i in range(4))
        bumped = joblib.Parallel()(joblib.delayed(local)(torch.full((2,), float(i))) for i in range(4))
        pids = set(joblib.Parallel()(joblib.delayed(__import__("os").getpid)() for _ in range(8)))
    assert all(isinstance(d, np.ndarray) and d.dtype == np.float32 for d in doubled)
    assert [d.tolist() for d in doubled] == [[2.0 * i] * 2 for i in range(4)]
    assert all(isinstance(b, torch.Tensor) for b in bumped)
    assert [b.tolist() for b in bumped] == [[i + 1.0] * 2 for i in range(4)]
    assert len(pids) >= 1


PIPELINE = """
import sys
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from toolkit import torch_in_numpy_out

@torch_in_numpy_out
def squash(x):  # a function of the script: __main__.squash
    return x.tanh()

x = np.linspace(-2, 2, 40).reshape(20, 2)
y = (x[:, 0] > 0).astype(int)
pipe = make_pipeline(FunctionTransformer(squash), LogisticRegression()).fit(x, y)
joblib.dump(pipe, sys.argv[1])
again = joblib.load(sys.argv[1])
assert again.steps[0][1].func is squash  # by name, as for the undecorated function
assert (again.predict(x) == pipe.predict(x)).all()
print("dump ok")
"""


def test_joblib_dump_of_a_pipeline_holding_a_decorated_main_function(tmp_path):
    import subprocess
    import sys

    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    script = tmp_path / "fit.py"
    script.write_text(PIPELINE)
    ran = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "pipe.joblib")], capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert "dump ok" in ran.stdout
