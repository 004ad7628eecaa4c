"""Recurrent cells: every variant's gradients against finite differences (float64), the cell
contract, and a cell written by a user running through tg.nn.Recurrent."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.testing import arrays, gradcheck_module, sequences

from recurrent_cases import (MinimalGatedUnit, as_state, build_mgu, elements_for, examples, flat,
                             flatten_state, random_state, state_parts, unflatten_state)

CELLS = {
    "rnn_tanh": lambda i, h: tg.nn.RNNCell(i, h),
    "rnn_relu": lambda i, h: tg.nn.RNNCell(i, h, nonlinearity="relu"),
    "rnn_tanh_no_bias": lambda i, h: tg.nn.RNNCell(i, h, bias=False),
    "rnn_relu_no_bias": lambda i, h: tg.nn.RNNCell(i, h, bias=False, nonlinearity="relu"),
    "lstm": lambda i, h: tg.nn.LSTMCell(i, h),
    "lstm_no_bias": lambda i, h: tg.nn.LSTMCell(i, h, bias=False),
    "lstm_peephole": lambda i, h: tg.nn.LSTMCell(i, h, peephole=True),
    "lstm_no_forget_gate": lambda i, h: tg.nn.LSTMCell(i, h, forget_gate=False),
    "lstm_peephole_no_forget_gate": lambda i, h: tg.nn.LSTMCell(i, h, peephole=True,
                                                                 forget_gate=False),
    "lstm_proj": lambda i, h: tg.nn.LSTMCell(i, h, proj_size=h - 1),
    "lstm_peephole_proj_no_bias": lambda i, h: tg.nn.LSTMCell(i, h, bias=False, peephole=True,
                                                               proj_size=1),
    "lstm_forget_bias": lambda i, h: tg.nn.LSTMCell(i, h, forget_bias=1.0),
    "gru": lambda i, h: tg.nn.GRUCell(i, h),
    "gru_reset_before": lambda i, h: tg.nn.GRUCell(i, h, reset_after=False),
    "gru_no_bias": lambda i, h: tg.nn.GRUCell(i, h, bias=False),
    "gru_reset_before_no_bias": lambda i, h: tg.nn.GRUCell(i, h, bias=False, reset_after=False),
    "mgu": lambda i, h: MinimalGatedUnit(i, h),
}


def random_cell_state(cell, batch, rng):
    like = tg.zeros(1, dtype="float64")
    return as_state(tuple(tg.tensor(rng.uniform(-1, 1, t.shape), dtype="float64") for t in
                          state_parts(cell.initial_state(batch, like))))


@pytest.mark.parametrize("variant", sorted(CELLS))
@examples(8)
@given(input_size=st.integers(1, 3), hidden_size=st.integers(2, 4), batch=st.integers(1, 3),
       seed=st.integers(0, 2**16), data=st.data())
def test_cell_gradcheck(variant, input_size, hidden_size, batch, seed, data):
    """Two steps of each cell: gradients w.r.t. both inputs, the state and every parameter."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cell = CELLS[variant](input_size, hidden_size).double()
    kind = "rnn_relu" if "relu" in variant else variant
    x1, x2 = (tg.tensor(data.draw(arrays((batch, input_size), elements=elements_for(kind))),
                        dtype="float64")
              for _ in range(2))
    state = state_parts(random_cell_state(cell, batch, rng))

    def two_steps(x1, x2, *state):
        out, state = cell(cell.project(x1), as_state(state))
        out, state = cell(cell.project(x2), state)
        return (out,) + state_parts(state)

    assert gradcheck_module(two_steps, cell, x1, x2, *state)


@pytest.mark.parametrize("variant", sorted(CELLS))
def test_cell_contract(variant):
    """project maps (T, B, I) to what forward takes; initial_state follows the like tensor's
    dtype; the output has output_size features."""
    cell = CELLS[variant](3, 4)
    x = tg.randn(5, 2, 3, dtype="float64")
    cell.double()
    projected = cell.project(x)
    assert projected.shape[:2] == (5, 2)
    state = cell.initial_state(2, x)
    for part in state_parts(state):
        assert part.dtype == np.float64 and part.shape[0] == 2
        assert not part.numpy().any()
    out, new_state = cell(projected.unbind(0)[0], state)
    assert out.shape == (2, cell.output_size)
    assert [p.shape for p in state_parts(new_state)] == [p.shape for p in state_parts(state)]


def test_cell_variants_have_their_parameters():
    """The variants' parameter sets, with PyTorch's shapes and names."""
    shapes = lambda cell: {n: p.shape for n, p in cell.named_parameters()}  # noqa: E731
    assert shapes(tg.nn.LSTMCell(3, 4, peephole=True, forget_gate=False, proj_size=2)) == {
        "weight_ih": (12, 3), "weight_hh": (12, 2), "bias_ih": (12,), "bias_hh": (12,),
        "weight_ci": (4,), "weight_co": (4,), "weight_hr": (2, 4)}
    assert shapes(tg.nn.LSTMCell(3, 4, bias=False, peephole=True)) == {
        "weight_ih": (16, 3), "weight_hh": (16, 4), "weight_ci": (4,), "weight_cf": (4,),
        "weight_co": (4,)}
    assert shapes(tg.nn.GRUCell(3, 4, bias=False)) == {"weight_ih": (12, 3), "weight_hh": (12, 4)}


def test_forget_bias_is_added_to_the_forget_gate_bias():
    tg.manual_seed(0)
    plain = tg.nn.LSTMCell(3, 4)
    tg.manual_seed(0)
    biased = tg.nn.LSTMCell(3, 4, forget_bias=1.0)
    delta = biased.bias_ih.numpy() - plain.bias_ih.numpy()
    np.testing.assert_allclose(delta, np.repeat([0.0, 1.0, 0.0, 0.0], 4), atol=1e-6)
    np.testing.assert_array_equal(biased.bias_hh.numpy(), plain.bias_hh.numpy())


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def reference_step(cell, x, state):
    """One step of ``cell`` written from the equations in NumPy (the cells' docstrings; the
    peephole LSTM of Gers & Schmidhuber: i and f see c_{t-1}, o sees c_t)."""
    p = {name: t.numpy() for name, t in cell.named_parameters()}
    H = cell.hidden_size
    x_part = x @ p["weight_ih"].T + p.get("bias_ih", 0.0)
    if isinstance(cell, MinimalGatedUnit):
        w_f, w_h = p["weight_hh"][:H], p["weight_hh"][H:]
        b_f, b_h = np.split(p["bias_hh"], 2) if "bias_hh" in p else (0.0, 0.0)
        f = sigmoid(x_part[:, :H] + state @ w_f.T + b_f)
        h = (1 - f) * state + f * np.tanh(x_part[:, H:] + (f * state) @ w_h.T + b_h)
        return h, h
    if isinstance(cell, tg.nn.GRUCell):
        w_r, w_z, w_n = np.split(p["weight_hh"], 3)
        b_r, b_z, b_n = np.split(p["bias_hh"], 3) if "bias_hh" in p else (0.0, 0.0, 0.0)
        x_r, x_z, x_n = np.split(x_part, 3, axis=1)
        r = sigmoid(x_r + state @ w_r.T + b_r)
        z = sigmoid(x_z + state @ w_z.T + b_z)
        if cell.reset_after:
            n = np.tanh(x_n + r * (state @ w_n.T + b_n))
        else:
            n = np.tanh(x_n + (r * state) @ w_n.T + b_n)
        h = (1 - z) * n + z * state
        return h, h
    if isinstance(cell, tg.nn.RNNCell):
        pre = x_part + state @ p["weight_hh"].T + p.get("bias_hh", 0.0)
        h = np.tanh(pre) if cell.nonlinearity == "tanh" else np.maximum(pre, 0)
        return h, h
    h, c = state
    gates = x_part + h @ p["weight_hh"].T + p.get("bias_hh", 0.0)
    if cell.forget_gate:
        i, f, g, o = np.split(gates, 4, axis=1)
    else:
        (i, g, o), f = np.split(gates, 3, axis=1), None
    if cell.peephole:
        i = i + p["weight_ci"] * c
        f = f + p["weight_cf"] * c if f is not None else None
    c = (sigmoid(f) * c if f is not None else c) + sigmoid(i) * np.tanh(g)
    if cell.peephole:
        o = o + p["weight_co"] * c
    h = sigmoid(o) * np.tanh(c)
    if cell.proj_size:
        h = h @ p["weight_hr"].T
    return h, (h, c)


@pytest.mark.parametrize("variant", sorted(CELLS))
@examples(6)
@given(input_size=st.integers(1, 3), hidden_size=st.integers(2, 4), batch=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_cell_matches_its_equations(variant, input_size, hidden_size, batch, seed):
    """Three steps of each cell from a random state equal the equations written in NumPy."""
    tg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cell = CELLS[variant](input_size, hidden_size).double()
    state = random_cell_state(cell, batch, rng)
    expected = tuple(t.numpy() for t in state_parts(state))
    for _ in range(3):
        x = rng.uniform(-2, 2, (batch, input_size))
        out, state = cell(cell.project(tg.tensor(x, dtype="float64")), state)
        expected_out, expected_state = reference_step(cell, x, as_state(expected))
        expected = state_parts(expected_state)
        np.testing.assert_allclose(out.numpy(), expected_out, rtol=1e-12, atol=1e-12)
        for got, want in zip(state_parts(state), expected):
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


@examples(6)
@given(batch=sequences(max_steps=4, max_batch=3, feature_sizes=(1, 3), dtype="float64"),
       hidden_size=st.integers(1, 3), num_layers=st.integers(1, 2), batch_first=st.booleans(),
       seed=st.integers(0, 2**16))
def test_user_cell_through_recurrent_gradcheck(batch, hidden_size, num_layers, batch_first, seed):
    """A cell written in the test, keeping only the contract, runs bidirectionally over
    variable lengths (0 and unsorted included) with a given state, and its BPTT is right."""
    tg.manual_seed(seed)
    layer = build_mgu(batch.x.shape[2], hidden_size, num_layers, bidirectional=True,
                      batch_first=batch_first).double()
    x = batch.x.swapaxes(0, 1) if batch_first else batch.x
    state = random_state(layer, batch.x.shape[1], np.random.default_rng(seed))

    def run(x, *state_tensors):
        return flat(layer(x, unflatten_state(state, state_tensors), lengths=batch.lengths))

    assert gradcheck_module(run, layer, x, *flatten_state(state), max_elements=16, directions=6)
