"""tg.nn.RNN/LSTM/GRU and their cells against torch.nn with the same weights, in float32:
outputs, final states and every gradient. Skipped where PyTorch is not installed."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.testing import arrays, assert_close, sequences

from recurrent_cases import (TORCH_KINDS, as_state, elements_for, examples, layer_configs,
                             rounding_terms, state_parts)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

TORCH_LAYERS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def torch_layer(config, input_size):
    cls = getattr(torch.nn, TORCH_LAYERS[config.kind.split("_")[0]])
    return cls(input_size, config.hidden_size, **config.options)


def to_tg_state_dict(module):
    return {name: value.detach().numpy() for name, value in module.state_dict().items()}


def torch_loss(outputs, upstream):
    return sum((o * torch.from_numpy(u)).sum() for o, u in zip(outputs, upstream))


def tg_loss(outputs, upstream):
    total = None
    for o, u in zip(outputs, upstream):
        term = (o * tg.tensor(u)).sum()
        total = term if total is None else total + term
    return total


@pytest.mark.parametrize("kind", TORCH_KINDS)
@examples(15)
@given(data=st.data())
def test_layer_matches_torch(kind, data):
    """Drawn configurations (layers, directions, batch_first, bias, proj_size, nonlinearity,
    lengths through pack_padded_sequence, given initial state): outputs, final states, and the
    gradients w.r.t. input, initial state and every parameter equal torch.nn's."""
    config = data.draw(layer_configs(kinds=(kind,), torch_compatible=True), label="config")
    batch = data.draw(sequences(max_steps=5, max_batch=3, feature_sizes=(1, 4), min_length=1,
                                elements=elements_for(kind)), label="batch")
    use_lengths, give_state = data.draw(st.booleans()), data.draw(st.booleans())
    seed = data.draw(st.integers(0, 2**16))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    steps, size = batch.x.shape[0], batch.x.shape[1]
    reference = torch_layer(config, batch.x.shape[2])
    layer = config.build(batch.x.shape[2], dtype="float32")
    layer.load_state_dict(to_tg_state_dict(reference))

    x = batch.x.numpy()
    if config.batch_first:
        x = np.ascontiguousarray(x.swapaxes(0, 1))
    lengths = batch.lengths.numpy() if use_lengths else None
    directions = 2 if config.bidirectional else 1
    out_size = config.options.get("proj_size") or config.hidden_size
    state_shapes = [(config.options["num_layers"] * directions, size, out_size)]
    if kind == "lstm":
        state_shapes.append((config.options["num_layers"] * directions, size, config.hidden_size))
    state = [rng.uniform(-1, 1, s).astype(np.float32) for s in state_shapes] if give_state else None

    # torch
    x_torch = torch.tensor(x, requires_grad=True)
    state_torch = [torch.tensor(s, requires_grad=True) for s in state] if give_state else None
    packed = x_torch if lengths is None else torch.nn.utils.rnn.pack_padded_sequence(
        x_torch, torch.from_numpy(lengths), batch_first=config.batch_first, enforce_sorted=False)
    out_torch, final_torch = reference(packed, None if state is None else as_state(tuple(state_torch)))
    if lengths is not None:
        out_torch, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out_torch, batch_first=config.batch_first, total_length=steps)
    results_torch = [out_torch] + list(state_parts(final_torch))
    upstream = [rng.standard_normal(tuple(r.shape)).astype(np.float32) for r in results_torch]
    torch_loss(results_torch, upstream).backward()

    # tg
    x_tg = tg.tensor(x, requires_grad=True)
    state_tg = [tg.tensor(s, requires_grad=True) for s in state] if give_state else None
    out, final = layer(x_tg, None if state is None else as_state(tuple(state_tg)), lengths=lengths)
    results = [out] + list(state_parts(final))
    tg_loss(results, upstream).backward()

    # float32 on both sides, summed by two BLAS libraries in their own orders
    terms = rounding_terms(batch.x.shape[2], config.hidden_size, steps,
                           config.options["num_layers"], config.bidirectional, batch=size)
    for got, expected, what in zip(results, results_torch, ["output", "h_n", "c_n"]):
        assert_close(got.numpy(), expected.detach().numpy(), terms=terms, err_msg=what)
    assert_close(x_tg.grad.numpy(), x_torch.grad.numpy(), terms=terms, err_msg="input gradient")
    for k, (got, expected) in enumerate(zip(state_tg or [], state_torch or [])):
        assert_close(got.grad.numpy(), expected.grad.numpy(), terms=terms,
                     err_msg=f"state[{k}] gradient")
    torch_grads = {name: p.grad.numpy() for name, p in reference.named_parameters()}
    tg_grads = {name: p.grad.numpy() for name, p in layer.named_parameters()}
    assert sorted(tg_grads) == sorted(torch_grads)
    for name, expected in torch_grads.items():
        assert_close(tg_grads[name], expected, terms=terms, err_msg=f"gradient of {name}")


CELL_PAIRS = {
    "rnn_tanh": (lambda i, h, bias: torch.nn.RNNCell(i, h, bias),
                 lambda i, h, bias: tg.nn.RNNCell(i, h, bias)),
    "rnn_relu": (lambda i, h, bias: torch.nn.RNNCell(i, h, bias, nonlinearity="relu"),
                 lambda i, h, bias: tg.nn.RNNCell(i, h, bias, nonlinearity="relu")),
    "lstm": (lambda i, h, bias: torch.nn.LSTMCell(i, h, bias),
             lambda i, h, bias: tg.nn.LSTMCell(i, h, bias)),
    "gru": (lambda i, h, bias: torch.nn.GRUCell(i, h, bias),
            lambda i, h, bias: tg.nn.GRUCell(i, h, bias)),
}


@pytest.mark.parametrize("kind", sorted(CELL_PAIRS))
@examples(10)
@given(input_size=st.integers(1, 4), hidden_size=st.integers(1, 4), batch=st.integers(1, 3),
       bias=st.booleans(), seed=st.integers(0, 2**16), data=st.data())
def test_cell_matches_torch(kind, input_size, hidden_size, batch, bias, seed, data):
    """Two steps of each cell's fast path, step(project(x), state), from a random state:
    outputs, states and every gradient."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    make_torch, make_tg = CELL_PAIRS[kind]
    reference, cell = make_torch(input_size, hidden_size, bias), make_tg(input_size, hidden_size, bias)
    cell.load_state_dict(to_tg_state_dict(reference))
    xs = [data.draw(arrays((batch, input_size), dtype="float32", elements=elements_for(kind)))
          for _ in range(2)]
    state = [rng.uniform(-1, 1, (batch, hidden_size)).astype(np.float32)
             for _ in range(2 if kind == "lstm" else 1)]

    x_torch = [torch.tensor(x, requires_grad=True) for x in xs]
    state_torch = [torch.tensor(s, requires_grad=True) for s in state]
    s = as_state(tuple(state_torch))
    for x in x_torch:
        s = reference(x, s)
    results_torch = list(state_parts(s))
    upstream = [rng.standard_normal(tuple(r.shape)).astype(np.float32) for r in results_torch]
    torch_loss(results_torch, upstream).backward()

    x_tg = [tg.tensor(x, requires_grad=True) for x in xs]
    state_tg = [tg.tensor(s, requires_grad=True) for s in state]
    s = as_state(tuple(state_tg))
    for x in x_tg:
        out, s = cell.step(cell.project(x), s)
    results = list(state_parts(s))
    np.testing.assert_array_equal(out.numpy(), results[0].numpy())
    tg_loss(results, upstream).backward()

    terms = rounding_terms(input_size, hidden_size, steps=2, batch=batch)   # float32, two BLAS
    for got, expected in zip(results, results_torch):
        assert_close(got.numpy(), expected.detach().numpy(), terms=terms, err_msg="state")
    for got, expected in zip(x_tg + state_tg, x_torch + state_torch):
        assert_close(got.grad.numpy(), expected.grad.numpy(), terms=terms,
                     err_msg="input or state gradient")
    for name, p in reference.named_parameters():
        assert_close(getattr(cell, name).grad.numpy(), p.grad.numpy(), terms=terms,
                     err_msg=f"gradient of {name}")


@pytest.mark.parametrize("kind", sorted(CELL_PAIRS))
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
@pytest.mark.parametrize("give_hx", [True, False], ids=["hx", "no_hx"])
@examples(6)
@given(input_size=st.integers(1, 4), hidden_size=st.integers(1, 4), batch=st.integers(1, 3),
       bias=st.booleans(), seed=st.integers(0, 2**16), data=st.data())
def test_cell_called_directly_matches_torch(kind, unbatched, give_hx, input_size, hidden_size,
                                             batch, bias, seed, data):
    """Each cell called as torch.nn's cells are, cell(x, hx), for two steps on the raw input,
    batched or one unbatched sample, from a given state or from hx=None: the states after each
    step, and the gradients of the inputs, of the given state and of every parameter.
    (torch.nn.LSTMCell has no proj_size, so a projected LSTMCell has no reference here.)"""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    make_torch, make_tg = CELL_PAIRS[kind]
    reference, cell = make_torch(input_size, hidden_size, bias), make_tg(input_size, hidden_size, bias)
    cell.load_state_dict(to_tg_state_dict(reference))
    leading = () if unbatched else (batch,)
    xs = [data.draw(arrays(leading + (input_size,), dtype="float32", elements=elements_for(kind)))
          for _ in range(2)]
    state = [rng.uniform(-1, 1, leading + (hidden_size,)).astype(np.float32)
             for _ in range(2 if kind == "lstm" else 1)] if give_hx else []

    x_torch = [torch.tensor(x, requires_grad=True) for x in xs]
    state_torch = [torch.tensor(s, requires_grad=True) for s in state]
    s, results_torch = as_state(tuple(state_torch)) if give_hx else None, []
    for x in x_torch:
        s = reference(x, s)
        results_torch += state_parts(s)
    upstream = [rng.standard_normal(tuple(r.shape)).astype(np.float32) for r in results_torch]
    torch_loss(results_torch, upstream).backward()

    x_tg = [tg.tensor(x, requires_grad=True) for x in xs]
    state_tg = [tg.tensor(s, requires_grad=True) for s in state]
    s, results = as_state(tuple(state_tg)) if give_hx else None, []
    for x in x_tg:
        s = cell(x, s)
        assert isinstance(s, tuple) == (kind == "lstm")
        results += state_parts(s)
    tg_loss(results, upstream).backward()

    assert len(results) == len(results_torch)
    terms = rounding_terms(input_size, hidden_size, steps=2, batch=batch)   # float32, two BLAS
    for got, expected in zip(results, results_torch):
        assert got.shape == tuple(expected.shape)
        assert_close(got.numpy(), expected.detach().numpy(), terms=terms, err_msg="state")
    for got, expected in zip(x_tg + state_tg, x_torch + state_torch):
        assert_close(got.grad.numpy(), expected.grad.numpy(), terms=terms,
                     err_msg="input or state gradient")
    for name, p in reference.named_parameters():
        assert_close(getattr(cell, name).grad.numpy(), p.grad.numpy(), terms=terms,
                     err_msg=f"gradient of {name}")


@pytest.mark.parametrize("make_torch, make_tg", [
    (lambda: torch.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2),
     lambda: tg.nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)),
    (lambda: torch.nn.LSTM(3, 5, num_layers=3, bias=False, batch_first=True),
     lambda: tg.nn.LSTM(3, 5, num_layers=3, bias=False, batch_first=True)),
    (lambda: torch.nn.GRU(2, 4, num_layers=2, bidirectional=True),
     lambda: tg.nn.GRU(2, 4, num_layers=2, bidirectional=True)),
    (lambda: torch.nn.RNN(2, 4, nonlinearity="relu", bias=False, bidirectional=True),
     lambda: tg.nn.RNN(2, 4, nonlinearity="relu", bias=False, bidirectional=True)),
], ids=["lstm_proj_bidirectional", "lstm_no_bias", "gru_bidirectional", "rnn_relu_no_bias"])
def test_state_dict_names_and_shapes_are_pytorchs(make_torch, make_tg):
    """Same names, same order, same shapes; each state dict loads strictly into the other."""
    reference, layer = make_torch(), make_tg()
    expected = [(name, tuple(t.shape)) for name, t in reference.state_dict().items()]
    assert [(name, p.shape) for name, p in layer.state_dict().items()] == expected
    assert layer.load_state_dict(to_tg_state_dict(reference)) == ([], [])
    tg.manual_seed(1)
    other = make_tg()
    reference.load_state_dict({name: torch.from_numpy(p.numpy()) for name, p in other.state_dict().items()},
                              strict=True)
    for name, p in other.state_dict().items():
        np.testing.assert_array_equal(reference.state_dict()[name].numpy(), p.numpy())
