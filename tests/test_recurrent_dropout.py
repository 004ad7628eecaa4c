"""Dropout between stacked recurrent layers: train/eval switch, variational masks fixed over
time, never after the last layer."""
import numpy as np
import pytest

import tinygrad_seq as tg

from recurrent_cases import IdentityCell


@pytest.mark.parametrize("make", [
    lambda: tg.nn.LSTM(3, 8, num_layers=2, dropout=0.5),
    lambda: tg.nn.GRU(3, 8, num_layers=3, dropout=0.5, variational_dropout=True),
    lambda: tg.nn.RNN(3, 8, num_layers=2, dropout=0.3, bidirectional=True),
    lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 8), tg.nn.GRUCell(8, 8)], dropout=0.5),
], ids=["lstm", "gru_variational", "rnn_bidirectional", "recurrent"])
def test_eval_mode_is_deterministic_and_train_mode_is_not(make):
    tg.manual_seed(0)
    layer = make()
    x = tg.randn(5, 4, 3)
    layer.eval()
    assert not any(m.training for m in layer.modules())
    first, second = layer(x)[0].numpy(), layer(x)[0].numpy()
    np.testing.assert_array_equal(first, second)
    layer.train()
    assert all(m.training for m in layer.modules())
    dropped, again = layer(x)[0].numpy(), layer(x)[0].numpy()
    assert not np.array_equal(dropped, again)
    assert not np.array_equal(dropped, first)


@pytest.mark.parametrize("variational", [True, False])
def test_dropout_masks_between_layers(variational):
    """Identity cells make the output the dropped input itself: every element is 0 or
    x / (1 - p), so it was dropped exactly once (between the two layers, never after the last);
    the variational mask is one per sequence and feature, the same at every step, while the
    plain mask changes from step to step."""
    p, steps, batch, size = 0.5, 6, 4, 16
    layer = tg.nn.Recurrent([IdentityCell(size), IdentityCell(size)], dropout=p,
                            variational_dropout=variational)
    x = tg.tensor(np.random.default_rng(0).uniform(1, 2, (steps, batch, size)))
    tg.manual_seed(1)
    out = layer(x)[0].numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)
    assert 0.2 < kept.mean() < 0.8
    assert (kept == kept[0]).all() == variational
    if variational:
        assert not (kept[0] == kept[0, 0]).all(), "one mask per sequence, not one per batch"
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].numpy(), x.numpy())


def test_variational_mask_is_the_same_within_a_sequence_across_stacked_layers():
    """Three identity layers, two dropouts: with variational masks the product of the two masks
    is still fixed over time; the masks of the two gaps are drawn independently."""
    p, size = 0.5, 32
    layer = tg.nn.Recurrent([IdentityCell(size)] * 3, dropout=p, variational_dropout=True)
    x = tg.ones(5, 2, size)
    tg.manual_seed(4)
    out = layer(x)[0].numpy()
    assert (out == out[0]).all()
    assert set(np.unique(out)) <= {0.0, 1 / (1 - p) ** 2}
    assert 0.1 < (out != 0).mean() < 0.45   # about (1 - p)^2 kept: two independent masks


def test_variational_dropout_of_rnn_layer_is_fixed_over_time():
    """The same through tg.nn.RNN: ReLU cells with identity input weights pass their
    (positive) input on, so the second layer's output shows the mask between the layers."""
    size = 12
    layer = tg.nn.RNN(size, size, num_layers=2, nonlinearity="relu", dropout=0.5,
                      variational_dropout=True)
    identity = np.eye(size, dtype=np.float32)
    layer.load_state_dict({name: identity if name.startswith("weight_ih") else np.zeros(p.shape)
                           for name, p in layer.state_dict().items()})
    x = tg.tensor(np.random.default_rng(0).uniform(1, 2, (7, 3, size)))
    tg.manual_seed(2)
    out = layer(x)[0].numpy()
    kept = out != 0
    assert (kept == kept[0]).all() and 0 < kept.mean() < 1
    np.testing.assert_allclose(out[kept], 2 * x.numpy()[kept], rtol=1e-6)


@pytest.mark.parametrize("make", [
    lambda: tg.nn.LSTM(3, 4, dropout=0.9),
    lambda: tg.nn.GRU(3, 4, dropout=0.9, bidirectional=True),
    lambda: tg.nn.RNN(3, 4, dropout=0.9, variational_dropout=True),
    lambda: tg.nn.Recurrent([IdentityCell(3)], dropout=0.9),
], ids=["lstm", "gru_bidirectional", "rnn_variational", "recurrent"])
def test_one_layer_dropout_warns_and_does_nothing(make):
    with pytest.warns(UserWarning, match=r"dropout=0\.9.*never after the last.*num_layers=1"):
        layer = make()
    x = tg.randn(5, 3, 3)
    train = layer(x)[0].numpy()
    layer.eval()
    np.testing.assert_array_equal(train, layer(x)[0].numpy())


def test_dropout_one_drops_everything_between_layers():
    layer = tg.nn.Recurrent([IdentityCell(3), IdentityCell(3)], dropout=1.0)
    assert not layer(tg.ones(4, 2, 3))[0].numpy().any()
    layer.eval()
    assert (layer(tg.ones(4, 2, 3))[0].numpy() == 1).all()


@pytest.mark.parametrize("variational", [False, True])
def test_train_mode_dropout_gradients_are_right(variational):
    """With the masks held fixed (gradcheck_module reseeds before every evaluation), BPTT through
    dropout between layers equals finite differences."""
    from tinygrad_seq.testing import gradcheck_module
    layer = tg.nn.GRU(2, 3, num_layers=2, dropout=0.5, variational_dropout=variational).double()
    x = tg.randn(4, 2, 2, dtype="float64")
    assert gradcheck_module(lambda x: layer(x, lengths=[4, 2])[0], layer, x)
