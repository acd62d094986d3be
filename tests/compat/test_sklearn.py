"""scikit-learn: metrics fed by torch models, NumPy metrics called with tensors, Bunch."""

import numpy as np
import pytest
import torch

from toolkit import GradientDetachedWarning, numpy_in_numpy_out, to_torch, torch_in_numpy_out

metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
Bunch = pytest.importorskip("sklearn.utils", reason="scikit-learn is not installed").Bunch


def test_predictions_that_require_grad_reach_a_metric_as_arrays():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)

    @torch_in_numpy_out
    def predict(x):
        return model(x).argmax(-1), torch.softmax(model(x), -1)  # both still on the graph

    x = np.random.default_rng(0).random((20, 4)).astype(np.float32)
    labels, proba = predict(x)
    assert isinstance(labels, np.ndarray) and isinstance(proba, np.ndarray)
    accuracy = metrics.accuracy_score(labels, labels)
    assert accuracy == 1.0
    assert metrics.log_loss(labels, proba, labels=[0, 1, 2]) > 0


def test_a_numpy_metric_called_with_tensors_that_require_grad():
    mse = numpy_in_numpy_out(metrics.mean_squared_error)
    pred = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.warns(GradientDetachedWarning, match="mean_squared_error"):
        value = mse(pred * 2, torch.tensor([2.0, 4.0, 7.0]))
    assert value == pytest.approx(1 / 3)
    assert pred.grad is None and pred.tolist() == [1.0, 2.0, 3.0]


def test_a_bunch_keeps_its_type_and_its_attributes():
    iris = datasets.load_iris()
    out = to_torch({"data": iris.data, "target": iris.target}, float_dtype="float32")
    assert out["data"].dtype is torch.float32 and out["target"].dtype is torch.int64
    numeric = Bunch(data=iris.data, target=iris.target, name="iris")
    bunch = to_torch(numeric, float_dtype="float32")
    assert type(bunch) is Bunch and bunch.name == "iris"
    assert isinstance(bunch.data, torch.Tensor) and bunch.data.dtype is torch.float32
    assert isinstance(numeric.data, np.ndarray)  # the caller's Bunch is untouched
    with pytest.raises(TypeError, match=r"'data'\['target_names'\]: .* dtype <U10"):
        to_torch(iris)  # the whole dataset holds string arrays: refused, naming the field


class Features(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(4, 3)

    @torch_in_numpy_out
    def forward(self, x):
        assert isinstance(x, torch.Tensor)
        return torch.tanh(self.linear(x.float()))


def test_clone_and_cross_val_score_over_a_decorated_transformer():
    from sklearn.base import clone
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    features = Features()
    transformer = FunctionTransformer(features.forward)
    cloned = clone(transformer)  # deep-copies the bound method, with its module
    x, y = datasets.load_iris(return_X_y=True)
    np.testing.assert_allclose(cloned.fit_transform(x), transformer.fit_transform(x), rtol=1e-6)
    assert cloned.func.__self__ is not features
    scores = cross_val_score(make_pipeline(FunctionTransformer(features.forward), LogisticRegression()), x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.5
