"""Sphinx configuration. Builds offline: no intersphinx, nothing downloaded."""

import doctest
import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import torch

from toolkit import __version__
from toolkit._dtypes import dtype_table

# Examples marked `# doctest: +CUDA` run only where CUDA is present (see conftest.py).
doctest.OPTIONFLAGS_BY_NAME.setdefault("CUDA", 0 if torch.cuda.is_available() else doctest.SKIP)

project = "numpy-torch-toolkit"
author = "The numpy-torch-toolkit developers"
copyright = "2026, " + author
release = version = __version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.doctest"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
html_theme = "furo"
html_title = f"numpy-torch-toolkit {release}"
html_static_path = ["_static"]
exclude_patterns = ["_build", "_generated/*.inc"]
nitpicky = False


def _write_dtype_table(app):
    """docs/_generated/dtype_table.inc, made from the library's own mapping."""
    rows = dtype_table()
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 20 20 60",
        "",
        "   * - torch dtype",
        "     - NumPy dtype under ``to_numpy``",
        "     - what happens",
    ]
    for torch_name, numpy_name, note in rows:
        lines += [f"   * - ``{torch_name}``", f"     - ``{numpy_name}``", f"     - {note}"]
    out = os.path.join(app.srcdir, "_generated")
    os.makedirs(out, exist_ok=True)
    text = "\n".join(lines) + "\n"
    path = os.path.join(out, "dtype_table.inc")
    old = None
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    if old != text:  # rewriting an unchanged file would make Sphinx rebuild every page
        with open(path, "w") as f:
            f.write(text)


def setup(app):
    app.connect("builder-inited", _write_dtype_table)
