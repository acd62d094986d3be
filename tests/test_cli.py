"""python -m toolkit info | demo | bench."""

import subprocess
import sys

import pytest

from toolkit import _bench
from toolkit._cli import main


def test_info_prints_versions_devices_defaults_and_table(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "numpy-torch-toolkit",
        "numpy",
        "torch",
        "devices cpu",
        "default device",
        "bfloat16",
        "upcast",
        "refused",
    ):
        assert needle in out, needle


def test_demo_tours_both_directions(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "to_torch" in out and "to_numpy" in out and "@numpy_inside" in out and "@torch_in_numpy_out" in out
    assert "accuracy() argument 'logits'" in out and "copied: negative strides" in out


@pytest.mark.parametrize("command", [[], ["info", "--help"], ["demo", "--help"], ["bench", "--help"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main(command or ["--help"])
    assert info.value.code == 0
    assert "usage: python -m toolkit" in capsys.readouterr().out


def test_bench_table_and_plot(tmp_path, monkeypatch):
    rows = [_bench.Row("case a", 2.0, "base", 1.0, 1.5), _bench.Row("case b", 1.0, "base", 1.0, None)]
    text = _bench.table(rows)
    assert "2.00x" in text and "<= 1.5x" in text and "about 1x" in text
    pytest.importorskip("matplotlib")
    path = tmp_path / "bench.png"
    _bench.plot(rows, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_has_a_row_per_decorator_and_each_contract_case():
    rows = _bench.run(quick=True, compiled=False)
    cases = [r.case for r in rows]
    for name in (
        "torch_in_numpy_out",
        "numpy_in_torch_out",
        "numpy_in_numpy_out",
        "torch_in_torch_out",
        "numpy_inside",
        "torch_inside",
        "autoconvert",
        "nn.Module.forward",
        "nested batch",
        "registered class",
        "zero copy",
        "dtype=float32",
        "dumps + loads",
        "NumPy operator",
    ):
        assert sum(name in case for case in cases) == 1, name
    assert all(r.toolkit_us > 0 and r.baseline_us > 0 for r in rows)
    assert [r.target for r in rows if "zero copy" in r.case] == [None]


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "toolkit", "info"], capture_output=True, text=True, check=True)
    assert "dtype mapping" in done.stdout
