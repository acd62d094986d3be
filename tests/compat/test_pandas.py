"""pandas: Series, DataFrame and Index arguments, through NumPy's view of them."""

import numpy as np
import pytest
import torch

from toolkit import ConversionError, to_torch, torch_in_numpy_out, torch_inside

pd = pytest.importorskip("pandas", reason="pandas is not installed")


def test_series_dataframe_and_index_convert():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})

    @torch_in_numpy_out
    def total(x, col, index):
        assert isinstance(x, torch.Tensor) and x.shape == (2, 2)
        assert isinstance(col, torch.Tensor) and isinstance(index, torch.Tensor)
        return x.sum() + col.sum() + index.sum()

    assert total(frame, frame["a"], frame.index) == pytest.approx(10.0 + 3.0 + 1.0)


def test_writes_to_the_tensor_never_reach_the_frame():
    frame = pd.DataFrame({"a": [1.0, 2.0]})
    t = to_torch(frame["a"])
    t[0] = 99.0
    assert frame["a"].tolist() == [1.0, 2.0]


def test_a_mixed_frame_is_refused_naming_its_type():
    frame = pd.DataFrame({"a": [1.0], "name": ["x"]})
    with pytest.raises(
        ConversionError, match=r"'data'\['batch'\]: cannot convert a DataFrame viewed as a NumPy array of dtype object"
    ):
        to_torch({"batch": frame})


def test_a_series_is_not_a_numpy_caller_for_the_mirror_rule():
    @torch_inside
    def double(x):
        return x * 2

    # Only NumPy arrays and scalars make a NumPy caller: the body's tensor comes back as it is.
    out = double(pd.Series([1.0, 2.0]))
    assert isinstance(out, torch.Tensor) and out.tolist() == [2.0, 4.0]
    assert isinstance(double(pd.Series([1.0]).to_numpy()), np.ndarray)
