"""Sequence layers (RNN, LSTM, GRU, Recurrent): BPTT against finite differences, padding,
layouts, directions, devices, errors and PyTorch's parameter names."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.testing import assert_close, gradcheck_module

from recurrent_cases import (KINDS, REQUIRED_CONFIGS, cell_states, examples, flat, flatten_state,
                             layer_cases, layer_state, layout, np_lengths, numpy_all, numpy_cells,
                             required_case, reverse_as_forward, rounding_terms, select_batch,
                             unflatten_state, upstream_like, weighted_sum)

TIGHT = dict(rtol=1e-10, atol=1e-12)   # float64: the same sums, grouped another way


# ---------------------------------------------------------------- gradients

def check_gradients(case, **gradcheck_options):
    """d(out, final state)/d(input, initial state, every parameter) against central differences."""
    inputs = (layout(case.x, case.config.batch_first),) + (
        flatten_state(case.state) if case.state is not None else ())

    def run(x, *state):
        state = unflatten_state(case.state, state) if state else None
        return flat(case.layer(x, state, lengths=case.lengths))

    assert gradcheck_module(run, case.layer, *inputs, **gradcheck_options)


@pytest.mark.parametrize("kind", KINDS)
@examples(10)
@given(data=st.data())
def test_layer_gradcheck(kind, data):
    """Drawn layers: 1-2 layers, both directions, lengths (0, unsorted) or none, every variant,
    batch_first, given or zero state. Parameters over 16 elements are checked along random
    directions (every element in the slow version)."""
    check_gradients(data.draw(layer_cases(kinds=(kind,))), max_elements=16, directions=6)


@pytest.mark.parametrize("with_state", [True, False], ids=["state", "zero_state"])
@pytest.mark.parametrize("name", sorted(REQUIRED_CONFIGS))
def test_layer_gradcheck_required(name, with_state):
    """Two stacked bidirectional layers over lengths [4, 0, 2], for each variant."""
    check_gradients(required_case(name, with_state=with_state), max_elements=16, directions=6)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_layer_gradcheck_every_element(kind, data):
    check_gradients(data.draw(layer_cases(kinds=(kind,), max_steps=5)), max_elements=1024)


# ---------------------------------------------------------------- padding

def check_padded_equals_alone(case):
    """Outputs up to each length equal the sequence run alone, zeros after; final states are
    those of the sequence alone (the initial state for length 0), every layer and direction."""
    config, layer, x, lengths, state = case[:5]
    steps, batch = x.shape[:2]
    out, final = layer(layout(x, config.batch_first), state, lengths=lengths)
    out, finals = layout(out, config.batch_first).numpy(), numpy_cells(layer, final)
    initial = numpy_cells(layer, state) if state is not None else \
        [[np.zeros_like(part) for part in parts] for parts in finals]
    for b, length in enumerate(np_lengths(lengths, batch, steps)):
        assert not out[length:, b].any(), "outputs past the length must be exactly zero"
        if length == 0:
            for got, expected in zip(finals, initial):
                for got_part, expected_part in zip(got, expected):
                    np.testing.assert_array_equal(got_part[b], expected_part[b])
            continue
        alone_state = None if state is None else select_batch(layer, state, b)
        alone, alone_final = layer(layout(x[:length, b:b + 1], config.batch_first), alone_state)
        np.testing.assert_allclose(out[:length, b], layout(alone, config.batch_first).numpy()[:, 0],
                                   **TIGHT)
        for got, expected in zip(finals, numpy_cells(layer, alone_final)):
            for got_part, expected_part in zip(got, expected):
                np.testing.assert_allclose(got_part[b], expected_part[0], **TIGHT)


@pytest.mark.parametrize("kind", KINDS)
@examples(12)
@given(data=st.data())
def test_padded_batch_equals_each_sequence_alone(kind, data):
    check_padded_equals_alone(data.draw(layer_cases(kinds=(kind,), max_steps=5)))


@pytest.mark.parametrize("name", sorted(REQUIRED_CONFIGS))
def test_padded_batch_equals_each_sequence_alone_required(name):
    check_padded_equals_alone(required_case(name))


# ---------------------------------------------------------------- layouts and directions

@pytest.mark.parametrize("kind", KINDS)
@examples(8)
@given(data=st.data())
def test_batch_first_equals_transposed_time_major(kind, data):
    """The same weights in the other layout: outputs, input gradients and final states equal."""
    config, layer, x, lengths, state = data.draw(layer_cases(kinds=(kind,), max_steps=5))[:5]
    other = config.build(x.shape[2], batch_first=not config.batch_first)
    other.load_state_dict({name: p.numpy() for name, p in layer.state_dict().items()})
    runs = []
    for model in (layer, other):
        leaf = tg.tensor(layout(x, model.batch_first).numpy(), dtype="float64", requires_grad=True)
        out, final = model(leaf, state, lengths=lengths)
        out = layout(out, model.batch_first)
        upstream = tg.tensor(np.arange(out.size).reshape(out.shape) % 7 - 3.0, dtype="float64")
        (grad,) = tg.grad((out * upstream).sum(), [leaf])
        runs.append([out.numpy(), layout(grad, model.batch_first).numpy()]
                    + numpy_all(flatten_state(final)))
    for got, expected in zip(*runs):
        np.testing.assert_allclose(got, expected, **TIGHT)


def check_reverse_is_flipped_forward(case):
    """The reverse half of a one-layer bidirectional output is a forward layer holding the
    reverse weights, run over each sequence flipped within its length (and started from the
    reverse direction's initial state); its final state is the reverse final state."""
    config, layer, x, lengths, state = case[:5]
    steps, batch, features = x.shape
    sizes = np_lengths(lengths, batch, steps)
    flipped = x.numpy()
    for b, length in enumerate(sizes):
        flipped[:length, b] = flipped[:length, b][::-1]
    forward = reverse_as_forward(config, layer, features)
    reverse_state = None if state is None else layer_state(forward, cell_states(layer, state)[1:2])
    out, final = layer(layout(x, config.batch_first), state, lengths=lengths)
    expected, expected_final = forward(layout(tg.tensor(flipped, dtype="float64"), config.batch_first),
                                       reverse_state, lengths=lengths)
    out = layout(out, config.batch_first).numpy()
    expected = layout(expected, config.batch_first).numpy()
    half = out.shape[2] // 2
    for b, length in enumerate(sizes):
        np.testing.assert_allclose(out[:length, b, half:], expected[:length, b][::-1], **TIGHT)
        assert not out[length:, b].any()
    for got, want in zip(numpy_cells(layer, final)[1], numpy_cells(forward, expected_final)[0]):
        np.testing.assert_allclose(got, want, **TIGHT)


@pytest.mark.parametrize("kind", KINDS)
@examples(10)
@given(data=st.data())
def test_reverse_direction_equals_forward_layer_on_flipped_sequences(kind, data):
    check_reverse_is_flipped_forward(data.draw(layer_cases(kinds=(kind,), max_steps=5, max_layers=1,
                                                           bidirectional=True)))


@pytest.mark.parametrize("name", sorted(REQUIRED_CONFIGS))
def test_reverse_direction_equals_forward_layer_on_flipped_sequences_required(name):
    check_reverse_is_flipped_forward(required_case(name, num_layers=1))


# ---------------------------------------------------------------- devices

MAKERS = {"rnn": lambda: tg.nn.RNN(3, 4, num_layers=2, bidirectional=True),
          "lstm": lambda: tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2),
          "gru": lambda: tg.nn.GRU(3, 4, num_layers=2, bidirectional=True)}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_layer_on_device_matches_cpu(device, kind):
    """Forward and backward with lengths (a tensor on the device) give the CPU's results, and
    everything stays on the device."""
    x = np.random.default_rng(0).standard_normal((5, 3, 3)).astype(np.float32)
    results = []
    for where in ("cpu", device):
        tg.manual_seed(0)
        layer = MAKERS[kind]().to(where)
        leaf = tg.tensor(x, device=where, requires_grad=True)
        out, state = layer(leaf, lengths=tg.tensor([5, 0, 2], device=where))
        outputs = (out,) + flatten_state(state)
        assert all(t.device == leaf.device for t in outputs)
        weighted_sum(outputs, upstream_like(outputs, np.random.default_rng(1))).backward()
        assert all(p.grad.device == leaf.device for p in layer.parameters())
        results.append(numpy_all(outputs) + [leaf.grad.numpy()]
                       + [p.grad.numpy() for p in layer.parameters()])
    assert not results[1][0][2:, 1].any()
    terms = rounding_terms(3, 4, steps=5, num_layers=2, bidirectional=True, batch=3)
    for got, expected in zip(*results):
        assert_close(got, expected, terms=terms)    # float32, each device's own BLAS


def test_layer_gradcheck_on_device(device):
    """BPTT over lengths given as a tensor on the device, checked there in float64."""
    tg.manual_seed(5)
    layer = tg.nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2).double().to(device)
    x = tg.randn(4, 3, 2, dtype="float64", device=device)
    lengths = tg.tensor([4, 0, 2], device=device)
    assert gradcheck_module(lambda x: flat(layer(x, lengths=lengths)), layer, x,
                            max_elements=16, directions=6)


def test_state_on_another_device_is_an_error():
    """A state that claims to live on a GPU (the check compares device strings first, so this
    needs no GPU) is refused with both devices named."""
    layer = tg.nn.GRU(3, 4)
    state = tg.Tensor._make(np.zeros((1, 2, 4), dtype=np.float32), "cuda:0", None, 0)
    with pytest.raises(ValueError, match="state is on cuda:0, the input on cpu"):
        layer(tg.randn(2, 2, 3), state)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("call, message", [
    (lambda m: m(tg.randn(3)), r"3-axis input \(T, B, input_size\) or one unbatched sequence "
                               r"\(T, input_size\), got shape \(3,\)"),
    (lambda m: m(tg.randn(1, 5, 2, 3)), r"3-axis input .*got shape \(1, 5, 2, 3\)"),
    (lambda m: m([[[1.0, 2.0, 3.0]]]), r"3-axis input .*got list"),
    (lambda m: m(tg.randn(5, 2, 4)), r"input has 4 features, the layer expects input_size=3"),
    (lambda m: m(tg.randn(0, 2, 3)), r"0 time steps"),
    (lambda m: m(tg.randn(5, 2, 3), lengths=[5, 6]), r"lengths must lie in \[0, 5\].*got 6"),
    (lambda m: m(tg.randn(5, 2, 3), lengths=[-1, 5]), r"lengths must lie in \[0, 5\].*got -1"),
    (lambda m: m(tg.randn(5, 2, 3), lengths=[5, 5, 5]), r"lengths must be 2 integers.*shape \(3,\)"),
    (lambda m: m(tg.randn(5, 2, 3), lengths=[[5, 5]]), r"lengths must be 2 integers.*shape \(1, 2\)"),
    (lambda m: m(tg.randn(5, 2, 3), lengths=[5.0, 2.5]), r"lengths must be 2 integers.*float"),
    (lambda m: m(tg.randn(5, 2, 3), lengths=tg.tensor([5.0, 2.0])), r"lengths must be 2 integers.*float"),
    (lambda m: m(tg.randn(5, 2, 3), tg.zeros(2, 4)),
     r"state must have shape \(2, 2, 4\) \(num_layers \* num_directions, batch, size\), got \(2, 4\)"),
    (lambda m: m(tg.randn(5, 2, 3), tg.zeros(1, 2, 4)), r"state must have shape \(2, 2, 4\).*got \(1, 2, 4\)"),
    (lambda m: m(tg.randn(5, 2, 3), tg.zeros(2, 3, 4)), r"state must have shape \(2, 2, 4\).*got \(2, 3, 4\)"),
], ids=["rank1", "rank4", "not_a_tensor", "features", "no_steps", "length_too_long",
        "negative_length", "length_count", "lengths_2d", "float_lengths", "float_length_tensor",
        "state_rank", "state_layers", "state_batch"])
def test_bad_calls_raise_value_errors_naming_the_problem(call, message):
    layer = tg.nn.RNN(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=message) as info:
        call(layer)
    assert str(info.value).startswith("RNN:")


def test_bad_lstm_states_and_batch_first_inputs():
    lstm = tg.nn.LSTM(3, 4, bidirectional=True, proj_size=2, batch_first=True)
    x = tg.randn(2, 5, 3)
    h, c = tg.zeros(2, 2, 2), tg.zeros(2, 2, 4)
    lstm(x, (h, c))
    with pytest.raises(ValueError, match="state must be a tuple of 2 tensors.*got Tensor"):
        lstm(x, h)
    with pytest.raises(ValueError, match=r"state\[0\] must have shape \(2, 2, 2\).*got \(2, 2, 4\)"):
        lstm(x, (c, c))
    with pytest.raises(ValueError, match=r"state\[1\] must have shape \(2, 2, 4\).*got \(2, 2, 2\)"):
        lstm(x, (h, h))
    with pytest.raises(ValueError, match=r"3-axis input \(B, T, input_size\)"):
        lstm(tg.randn(5))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, 5\]"):
        lstm(x, lengths=[6, 1])
    with pytest.raises(ValueError, match="0 time steps"):
        lstm(tg.randn(2, 0, 3))


def test_bad_recurrent_states():
    """Recurrent's state is one cell state per layer and direction, as it returns it."""
    layer = tg.nn.Recurrent([tg.nn.GRUCell(3, 4), tg.nn.LSTMCell(4, 5)])
    x = tg.randn(6, 2, 3)
    _, state = layer(x)
    layer(x, state)
    with pytest.raises(ValueError, match=r"^Recurrent: state must be a list of 2 cell states"):
        layer(x, tg.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"^Recurrent: state must be a list of 2 cell states"):
        layer(x, state[:1])
    with pytest.raises(ValueError, match=r"^Recurrent: state\[1\] has shapes \(\(2, 5\), \(2, 4\)\).*LSTMCell"):
        layer(x, [state[0], (tg.zeros(2, 5), tg.zeros(2, 4))])
    with pytest.raises(ValueError, match=r"^Recurrent: state\[0\] has shapes \(3, 4\).*GRUCell"):
        layer(x, [tg.zeros(3, 4), state[1]])


@pytest.mark.parametrize("make, message", [
    (lambda: tg.nn.LSTM(3, 4, dropout=1.5), r"dropout must be in \[0, 1\], got 1.5"),
    (lambda: tg.nn.GRU(3, 4, num_layers=0), r"num_layers must be at least 1, got 0"),
    (lambda: tg.nn.LSTM(3, 4, proj_size=4), r"proj_size must be in \[0, hidden_size=4\), got 4"),
    (lambda: tg.nn.RNN(3, 4, nonlinearity="sigmoid"), r"nonlinearity must be 'tanh' or 'relu'"),
    (lambda: tg.nn.LSTM(3, 4, forget_gate=False, forget_bias=1.0), r"forget_bias needs the forget gate"),
    (lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 4), tg.nn.GRUCell(3, 4)]),
     r"cells\[1\] takes input_size=3 but layer 0 gives 4 features"),
    (lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 4)], [tg.nn.GRUCell(3, 4)] * 2), r"1 cells but 2 reverse"),
    (lambda: tg.nn.Recurrent([]), r"needs at least one cell"),
    (lambda: tg.nn.Recurrent([tg.nn.LSTMCell(4, 8)], reverse_cells=[tg.nn.LSTMCell(5, 8)]),
     r"reverse_cells\[0\] takes input_size=5 but cells\[0\] takes 4"),
], ids=["dropout", "num_layers", "proj_size", "nonlinearity", "forget_bias", "stack_sizes",
        "reverse_count", "no_cells", "reverse_input_size"])
def test_bad_constructions_raise_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("cells", [
    lambda: [tg.nn.GRUCell(3, 8), tg.nn.GRUCell(8, 4)],
    lambda: [tg.nn.LSTMCell(3, 8), tg.nn.LSTMCell(8, 4)],
    lambda: [tg.nn.GRUCell(3, 8), tg.nn.LSTMCell(8, 8)],
], ids=["gru_sizes_8_4", "lstm_sizes_8_4", "gru_then_lstm"])
def test_recurrent_of_unlike_cells_runs_or_is_refused_when_built(cells):
    """Recurrent checks only that layer k + 1 takes layer k's output size, so it accepts stacks
    whose layers differ in hidden size or state structure; such a stack must then run (one
    final state per layer), or be refused when built with a ValueError - never fail later,
    inside forward, in an op that knows nothing of layers."""
    try:
        layer = tg.nn.Recurrent(cells())
    except ValueError as e:
        assert "Recurrent" in str(e)
        return
    out, state = layer(tg.randn(5, 2, 3), lengths=[5, 2])
    assert out.shape == (5, 2, layer.cells[-1].output_size)


# ---------------------------------------------------------------- PyTorch's names

# torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2).state_dict(), written out
TORCH_LSTM_PARAMETERS = [
    (f"{name}_l{layer}{suffix}", shape)
    for layer, input_size in ((0, 3), (1, 4)) for suffix in ("", "_reverse")
    for name, shape in (("weight_ih", (20, input_size)), ("weight_hh", (20, 2)), ("bias_ih", (20,)),
                        ("bias_hh", (20,)), ("weight_hr", (2, 5)))]


def test_lstm_state_dict_has_pytorch_names_and_shapes():
    lstm = tg.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    assert [(name, p.shape) for name, p in lstm.state_dict().items()] == TORCH_LSTM_PARAMETERS
    assert TORCH_LSTM_PARAMETERS[:6] == [
        ("weight_ih_l0", (20, 3)), ("weight_hh_l0", (20, 2)), ("bias_ih_l0", (20,)),
        ("bias_hh_l0", (20,)), ("weight_hr_l0", (2, 5)), ("weight_ih_l0_reverse", (20, 3))]
    names = [name for name, _ in tg.nn.GRU(3, 4, num_layers=2, bias=False).named_parameters()]
    assert names == ["weight_ih_l0", "weight_hh_l0", "weight_ih_l1", "weight_hh_l1"]


def test_dtypes_must_match_the_parameters():
    """A float64 input to a float32 layer, or a float32 state beside a float64 input, is refused
    by name instead of being promoted silently."""
    with pytest.raises(ValueError, match=r"the input is float64 but the layer's parameters are float32"):
        tg.nn.LSTM(3, 4)(tg.randn(2, 1, 3, dtype="float64"))
    lstm = tg.nn.LSTM(3, 4).double()
    with pytest.raises(ValueError, match=r"state\[1\] is float32, the input float64"):
        lstm(tg.randn(2, 1, 3, dtype="float64"), (tg.zeros(1, 1, 4, dtype="float64"), tg.zeros(1, 1, 4)))
    layer = tg.nn.Recurrent([tg.nn.GRUCell(3, 4)]).double()
    with pytest.raises(ValueError, match=r"state\[0\] is float32, the input float64"):
        layer(tg.randn(2, 1, 3, dtype="float64"), [tg.zeros(1, 4)])
