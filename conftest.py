"""Settings shared by the tests and the doctests in README.md, docs/ and docstrings."""

import doctest
import re

import numpy as np
import torch

# `# doctest: +CUDA` marks an example that needs a GPU: it runs where CUDA is
# present and is skipped elsewhere (each such example has a CPU twin that runs).
doctest.OPTIONFLAGS_BY_NAME.setdefault("CUDA", 0 if torch.cuda.is_available() else doctest.SKIP)

# The docs show what the newest NumPy prints (`np.float32(0.5)`). NumPy 1.x
# prints scalars bare (`0.5`), so there the expected output is read the
# NumPy 1 way before it is compared.
if np.lib.NumpyVersion(np.__version__) < "2.0.0":
    _SCALAR = re.compile(r"np\.(?:float|int|uint|complex|bool|str|bytes)\w*\(((?:[^()]|\([^()]*\))*)\)|np\.(True|False)_")
    _check = doctest.OutputChecker.check_output

    def _numpy1_check(self, want, got, optionflags):
        return _check(self, _SCALAR.sub(lambda m: m.group(1) or m.group(2), want), got, optionflags)

    doctest.OutputChecker.check_output = _numpy1_check
