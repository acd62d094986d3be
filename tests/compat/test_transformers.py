"""transformers: tokenizer outputs (BatchEncoding) and model outputs, built in memory, nothing downloaded."""

import numpy as np
import pytest
import torch

from toolkit import to_numpy, to_torch, torch_in_numpy_out

transformers = pytest.importorskip("transformers", reason="transformers is not installed")
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers is not installed")


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {"[UNK]": 0, "[PAD]": 1, "hello": 2, "world": 3, "big": 4}
    model = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    model.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=model, unk_token="[UNK]", pad_token="[PAD]")


def test_a_batch_encoding_keeps_its_encodings(tokenizer):
    enc = tokenizer(["hello world", "big hello world"], padding=True, return_tensors="np")
    out = to_torch(enc)
    assert type(out) is type(enc) and isinstance(out["input_ids"], torch.Tensor)
    assert out.word_ids(0) == enc.word_ids(0) == [0, 1, None]  # the fast tokenizer's encodings stay
    assert isinstance(enc["input_ids"], np.ndarray)  # the caller's batch is as it was
    back = to_numpy(out)
    assert type(back) is type(enc) and back.word_ids(1) == [0, 1, 2]
    np.testing.assert_array_equal(back["attention_mask"], enc["attention_mask"])


def test_a_decorated_function_fed_a_batch_encoding(tokenizer):
    @torch_in_numpy_out
    def lengths(batch):
        assert isinstance(batch["attention_mask"], torch.Tensor) and batch.word_ids(0) is not None
        return batch["attention_mask"].sum(-1)

    enc = tokenizer(["hello world", "big hello world"], padding=True, return_tensors="np")
    assert lengths(enc).tolist() == [2, 3]
    with pytest.raises(TypeError, match=r"lengths\(\) argument 'batch'\['bad'\]: cannot convert"):
        enc["bad"] = np.array([None])
        lengths(enc)


def test_model_outputs_come_back_as_their_own_type():
    from transformers.modeling_outputs import BaseModelOutput

    out = BaseModelOutput(last_hidden_state=torch.ones(1, 2, requires_grad=True))
    back = to_numpy(out)
    assert type(back) is BaseModelOutput and isinstance(back.last_hidden_state, np.ndarray)
    assert not back.last_hidden_state.flags.writeable  # it required grad: a read-only view
