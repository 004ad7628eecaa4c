"""Recurrent cells: every variant's gradients against finite differences (float64), the cell
contract, the direct call cell(x, hx) as PyTorch's and its errors, and a cell written by a user
running through tg.nn.Recurrent."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq import Tensor
from tinygrad_seq.testing import arrays, gradcheck_module, sequences

from recurrent_cases import (CELLS, MinimalGatedUnit, as_state, build_mgu, elements_for, examples,
                             flat, flatten_state, random_state, state_parts, unflatten_state)


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
        out, state = cell.step(cell.project(x1), as_state(state))
        out, state = cell.step(cell.project(x2), state)
        return (out,) + state_parts(state)

    assert gradcheck_module(two_steps, cell, x1, x2, *state)


@pytest.mark.parametrize("variant", sorted(CELLS))
def test_cell_contract(variant):
    """project maps (T, B, I) to what step takes; initial_state follows the like tensor's
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
    out, new_state = cell.step(projected.unbind(0)[0], state)
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
        out, state = cell.step(cell.project(tg.tensor(x, dtype="float64")), state)
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


# ---------------------------------------------------------------- the direct call, as PyTorch's

def numpy_state(state):
    return as_state(tuple(part.numpy() for part in state_parts(state)))


@pytest.mark.parametrize("variant", sorted(CELLS))
def test_direct_call_on_the_raw_input_matches_the_equations(variant):
    """cell(x, hx) takes the raw input, as torch.nn.*Cell does, and returns the new state
    (h', or (h', c') for LSTM); hx=None is the zero state."""
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    cell = CELLS[variant](3, 4).double()
    state = random_cell_state(cell, 2, rng)
    x = rng.uniform(-2, 2, (2, 3))
    zeros = as_state(tuple(np.zeros(part.shape) for part in state_parts(state)))
    for given, start in ((state, numpy_state(state)), (None, zeros)):
        got = cell(tg.tensor(x, dtype="float64"), given)
        _, expected = reference_step(cell, x, start)
        assert isinstance(got, tuple) == isinstance(expected, tuple)
        assert len(state_parts(got)) == len(state_parts(expected))
        for part, want in zip(state_parts(got), state_parts(expected)):
            np.testing.assert_allclose(part.numpy(), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("variant", sorted(CELLS))
def test_unbatched_call_equals_a_batch_of_one(variant):
    """A 1-D input (input_size,) with a state of 1-D tensors gives 1-D results, the row that
    a batch of one gives; hx=None works unbatched too."""
    tg.manual_seed(1)
    cell = CELLS[variant](3, 4).double()
    state = random_cell_state(cell, 1, np.random.default_rng(1))
    x = tg.randn(3, dtype="float64")
    batched = cell(x.reshape(1, 3), state)
    unbatched = cell(x, as_state(tuple(part.reshape(part.shape[1:]) for part in state_parts(state))))
    assert isinstance(unbatched, tuple) == isinstance(batched, tuple)
    for got, row in zip(state_parts(unbatched), state_parts(batched)):
        assert got.shape == row.shape[1:]
        np.testing.assert_array_equal(got.numpy(), row.numpy()[0])
    from_zeros = cell(x)
    for got, row in zip(state_parts(from_zeros), state_parts(cell(x.reshape(1, 3)))):
        assert got.shape == row.shape[1:]
        np.testing.assert_array_equal(got.numpy(), row.numpy()[0])


def fake_cuda(*shape):
    """A tensor that claims to live on 'cuda:0' while holding a NumPy array: the cells compare
    device strings before touching any data, so no GPU is needed."""
    return Tensor._make(np.zeros(shape, dtype=np.float32), "cuda:0", None, 0)


GRU_CELL = lambda: tg.nn.GRUCell(3, 4)  # noqa: E731
LSTM_CELL = lambda: tg.nn.LSTMCell(3, 5, proj_size=2)  # noqa: E731


@pytest.mark.parametrize("make, call, error, message", [
    (GRU_CELL, lambda c: c(tg.randn(2, 5)), ValueError,
     r"^GRUCell: the input must have shape \(batch, 3\) or \(3,\) \(input_size=3\), got shape \(2, 5\)$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 12)), ValueError,
     r"^GRUCell: .*got shape \(2, 12\) \(a projected input goes to step\(\), not to the call\)$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 2, 3)), ValueError,
     r"^GRUCell: the input must have shape \(batch, 3\) or \(3,\).*got shape \(2, 2, 3\)$"),
    (GRU_CELL, lambda c: c(tg.tensor(1.0)), ValueError, r"^GRUCell: the input must .*got shape \(\)$"),
    (GRU_CELL, lambda c: c([[1.0, 2.0, 3.0]]), TypeError,
     r"^GRUCell: the input must be a Tensor of shape \(batch, 3\) or \(3,\), got list$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3, dtype="float64")), ValueError,
     r"^GRUCell: the input is float64 but the cell's parameters are float32"),
    (GRU_CELL, lambda c: c(fake_cuda(2, 3)), ValueError,
     r"^GRUCell: the input is on cuda:0 but the cell's parameters are on cpu"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3), tg.zeros(2, 5)), ValueError,
     r"^GRUCell: hx must have shape \(2, 4\) for an input of shape \(2, 3\), got \(2, 5\)$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3), tg.zeros(3, 4)), ValueError,
     r"^GRUCell: hx must have shape \(2, 4\) .*got \(3, 4\)$"),
    (GRU_CELL, lambda c: c(tg.randn(3), tg.zeros(1, 4)), ValueError,
     r"^GRUCell: hx must have shape \(4,\) for an input of shape \(3,\), got \(1, 4\)$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3), tg.zeros(4)), ValueError,
     r"^GRUCell: hx must have shape \(2, 4\) .*got \(4,\)$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3), np.zeros((2, 4), np.float32)), TypeError,
     r"^GRUCell: hx must be a Tensor of shape \(2, 4\), got ndarray$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3), tg.zeros(2, 4, dtype="float64")), ValueError,
     r"^GRUCell: hx is float64, the input float32$"),
    (GRU_CELL, lambda c: c(tg.randn(2, 3), fake_cuda(2, 4)), ValueError,
     r"^GRUCell: hx is on cuda:0, the input on cpu$"),
    (LSTM_CELL, lambda c: c(tg.randn(2, 3), tg.zeros(2, 2)), TypeError,
     r"^LSTMCell: hx must be a tuple of 2 tensors \(h, c\), got Tensor$"),
    (LSTM_CELL, lambda c: c(tg.randn(2, 3), (tg.zeros(2, 2),) * 3), TypeError,
     r"^LSTMCell: hx must be a tuple of 2 tensors \(h, c\), got tuple of 3$"),
    (LSTM_CELL, lambda c: c(tg.randn(2, 3), (tg.zeros(2, 2), tg.zeros(2, 2))), ValueError,
     r"^LSTMCell: hx\[1\] \(c\) must have shape \(2, 5\) for an input of shape \(2, 3\), got \(2, 2\)$"),
    (LSTM_CELL, lambda c: c(tg.randn(2, 3), (tg.zeros(2, 5), tg.zeros(2, 5))), ValueError,
     r"^LSTMCell: hx\[0\] \(h\) must have shape \(2, 2\) .*got \(2, 5\)$"),
    (LSTM_CELL, lambda c: c(tg.randn(3), (tg.zeros(2), tg.zeros(1, 5))), ValueError,
     r"^LSTMCell: hx\[1\] \(c\) must have shape \(5,\) for an input of shape \(3,\), got \(1, 5\)$"),
    (LSTM_CELL, lambda c: c(tg.randn(2, 3), (tg.zeros(2, 2), tg.zeros(2, 5, dtype="float64"))),
     ValueError, r"^LSTMCell: hx\[1\] \(c\) is float64, the input float32$"),
    (LSTM_CELL, lambda c: c(tg.randn(2, 4)), ValueError,
     r"^LSTMCell: the input must have shape \(batch, 3\) or \(3,\) \(input_size=3\), got shape \(2, 4\)$"),
], ids=["features", "projected", "rank3", "scalar", "not_a_tensor", "input_dtype", "input_device",
        "hx_features", "hx_batch", "hx_batched_for_unbatched", "hx_unbatched_for_batched",
        "hx_array", "hx_dtype", "hx_device", "lstm_hx_tensor", "lstm_hx_triple", "lstm_c_shape",
        "lstm_projected_h_shape", "lstm_unbatched_c_shape", "lstm_c_dtype", "lstm_features"])
def test_bad_direct_calls_name_the_cell_what_it_expected_and_what_it_got(make, call, error, message):
    with pytest.raises(error, match=message):
        call(make())


@pytest.mark.parametrize("make, error, message", [
    (lambda: tg.nn.RNNCell(3.0, 4), TypeError, r"^RNNCell: input_size must be an integer, got float 3.0$"),
    (lambda: tg.nn.GRUCell(3, -4), ValueError, r"^GRUCell: hidden_size must be at least 1, got -4$"),
    (lambda: tg.nn.LSTMCell(3, True), TypeError, r"^LSTMCell: hidden_size must be an integer, got bool True$"),
    (lambda: tg.nn.GRUCell(3, 4, bias="no"), TypeError,
     r"^GRUCell: bias must be True or False, got str 'no'$"),
    (lambda: tg.nn.GRUCell(3, 4, reset_after=0), TypeError,
     r"^GRUCell: reset_after must be True or False, got int 0$"),
    (lambda: tg.nn.LSTMCell(3, 4, proj_size=1.0), TypeError,
     r"^LSTMCell: proj_size must be an integer, got float 1.0$"),
    (lambda: tg.nn.LSTMCell(3, 4, proj_size=-1), ValueError,
     r"^LSTMCell: proj_size must be at least 0, got -1$"),
    (lambda: tg.nn.LSTMCell(3, 4, peephole="yes"), TypeError,
     r"^LSTMCell: peephole must be True or False, got str 'yes'$"),
    (lambda: tg.nn.LSTMCell(3, 4, forget_gate=None), TypeError,
     r"^LSTMCell: forget_gate must be True or False, got NoneType None$"),
    (lambda: tg.nn.LSTMCell(3, 4, forget_bias="1"), TypeError,
     r"^LSTMCell: forget_bias must be a real number, got str '1'$"),
], ids=["input_size_float", "hidden_size_negative", "hidden_size_bool", "bias_str",
        "reset_after_int", "proj_size_float", "proj_size_negative", "peephole_str",
        "forget_gate_none", "forget_bias_str"])
def test_bad_cell_constructions_name_the_argument(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_cells_take_numpy_integers_and_store_python_ints():
    cell = tg.nn.LSTMCell(np.int64(3), np.int32(4), bias=np.True_, proj_size=np.int16(2))
    assert (type(cell.input_size), type(cell.hidden_size), type(cell.proj_size)) == (int, int, int)
    h, c = cell(tg.randn(2, 3))
    assert (h.shape, c.shape) == ((2, 2), (2, 4))


class OldStyleCell(tg.nn.RecurrentCell):
    """A cell written for the contract before ``step``: forward on the projected input."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size, 1)

    def forward(self, x_proj, h):
        h = (x_proj + h @ self.weight_hh.T).tanh()
        return h, h


def test_a_cell_without_step_is_refused_with_the_contract():
    with pytest.raises(TypeError, match=r"^Recurrent: cells\[0\] \(OldStyleCell\) does not keep "
                                        r"the cell contract: .*step\(x_proj, state\).*lacks step$"):
        tg.nn.Recurrent([OldStyleCell(3, 4)])
    with pytest.raises(TypeError, match=r"^Recurrent: reverse_cells\[0\] \(int\) does not keep .*"
                                        r"lacks input_size, output_size, project, step, initial_state$"):
        tg.nn.Recurrent([tg.nn.GRUCell(3, 4)], reverse_cells=[3])
    with pytest.raises(NotImplementedError, match=r"^RecurrentCell: a cell implements "
                                                  r"step\(x_proj, state\)"):
        tg.nn.RecurrentCell(3, 4, 1)(tg.randn(2, 3))


def test_a_user_cell_gets_the_direct_call_from_the_base_class():
    """MinimalGatedUnit writes project/step only; its call is step(project(x), hx)'s state, with
    the base class's checks."""
    tg.manual_seed(2)
    cell = MinimalGatedUnit(3, 4)
    x, h = tg.randn(2, 3), tg.randn(2, 4)
    np.testing.assert_array_equal(cell(x, h).numpy(), cell.step(cell.project(x), h)[1].numpy())
    with pytest.raises(ValueError, match=r"^MinimalGatedUnit: hx must have shape \(2, 4\)"):
        cell(x, tg.randn(2, 5))
