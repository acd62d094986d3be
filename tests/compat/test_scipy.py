"""SciPy's result objects: tuples with _fields but no _make, and extra fields such as df."""

import numpy as np
import pytest
import torch

from toolkit import numpy_inside, to_numpy, to_torch, torch_in_numpy_out, torch_inside

stats = pytest.importorskip("scipy.stats", reason="SciPy is not installed")

rng = np.random.default_rng(0)
A, B = rng.random(12), rng.random(12)
RESULTS = {
    "ttest_ind": lambda: stats.ttest_ind(A, B),
    "pearsonr": lambda: stats.pearsonr(A, B),
    "linregress": lambda: stats.linregress(A, B),
    "spearmanr": lambda: stats.spearmanr(A, B),
    "ks_2samp": lambda: stats.ks_2samp(A, B),
    "wilcoxon": lambda: stats.wilcoxon(A, B),
}


def fields(result):
    names = [*type(result)._fields, *getattr(type(result), "_extra_fields", ())]
    return {name: getattr(result, name) for name in names}


@pytest.mark.parametrize("make", RESULTS.values(), ids=RESULTS.keys())
def test_results_come_back_as_their_own_type_with_every_field(make):
    result = make()
    as_torch = to_torch(result)
    assert type(as_torch) is type(result)
    assert all(isinstance(v, torch.Tensor) for v in fields(as_torch).values())
    back = to_numpy(as_torch)
    assert type(back) is type(result)
    for name, value in fields(result).items():
        assert np.allclose(fields(back)[name], value), name


@pytest.mark.parametrize("make", RESULTS.values(), ids=RESULTS.keys())
def test_every_decorator_passes_results_through(make):
    result = make()

    @torch_in_numpy_out
    def through(r):
        assert all(isinstance(v, torch.Tensor) for v in fields(r).values())
        return r

    out = through(result)
    assert type(out) is type(result) and fields(out).keys() == fields(result).keys()


def test_ttest_keeps_df_and_its_methods_still_work():
    result = stats.ttest_ind(A, B)
    out = to_numpy(to_torch(result))
    assert float(out.df) == float(result.df) == 22.0
    assert np.allclose(out.confidence_interval(), result.confidence_interval())


def test_scipy_called_with_tensors_through_numpy_inside():
    ttest = numpy_inside(stats.ttest_ind)
    out = ttest(torch.from_numpy(A), torch.from_numpy(B))
    expected = stats.ttest_ind(A, B)
    assert type(out) is type(expected)
    assert isinstance(out.statistic, torch.Tensor) and out.statistic.dtype is torch.float64
    assert out.statistic.item() == pytest.approx(expected.statistic)


def test_torch_statistics_with_a_scipy_like_result():
    @torch_inside
    def zscores(x):
        return (x - x.mean()) / x.std()

    out = zscores(A)
    assert isinstance(out, np.ndarray) and np.allclose(out, stats.zscore(A, ddof=1))
