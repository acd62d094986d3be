"""Settings shared by the tests and the doctests in README.md, docs/ and docstrings."""

import doctest

import numpy as np
import torch

# `# doctest: +CUDA` marks an example that needs a GPU: it runs where CUDA is
# present and is skipped elsewhere (each such example has a CPU twin that runs).
doctest.OPTIONFLAGS_BY_NAME.setdefault("CUDA", 0 if torch.cuda.is_available() else doctest.SKIP)

# The docs show NumPy scalars as NumPy 1.x prints them, so the same examples
# pass on NumPy 1.26 and 2.x.
if int(np.__version__.split(".")[0]) >= 2:
    np.set_printoptions(legacy="1.25")
