"""The fused RNN/LSTM/GRU kernels (tg.nn.fused) against the declared cells they replace: equal
outputs, final states and every gradient over drawn configurations; finite differences; one
node; the graph released after backward; memory that stays what BPTT needs."""
import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.nn.fused import FusedRecurrent
from tinygrad_seq.testing import gradcheck_module

from recurrent_cases import random_state, upstream_like, weighted_sum

TIGHT = dict(rtol=1e-10, atol=1e-12)   # float64: the same sums, grouped another way

# kind -> (layer class, options of that kind)
KINDS = {
    "rnn_tanh": (tg.nn.RNN, dict(nonlinearity="tanh")),
    "rnn_relu": (tg.nn.RNN, dict(nonlinearity="relu")),
    "lstm": (tg.nn.LSTM, {}),
    "lstm_proj": (tg.nn.LSTM, dict(proj_size=2)),
    "lstm_forget_bias": (tg.nn.LSTM, dict(forget_bias=1.0)),
    "gru": (tg.nn.GRU, {}),
    "gru_reset_before": (tg.nn.GRU, dict(reset_after=False)),
}


def build(kind, input_size, hidden_size, **options):
    layer_class, own = KINDS[kind]
    if not options.get("bias", True):
        own = {k: v for k, v in own.items() if k != "forget_bias"}
    return layer_class(input_size, hidden_size, **own, **options).double()


def nodes_of(out):
    """The type of the node that made ``out``."""
    return type(out._ctx)


def run(layer, x, state, lengths, upstream_seed, seed, use_state_outputs=True):
    """Outputs, final states and the gradients of a weighted sum of them with respect to x,
    the initial state and every parameter (None where there is none), as NumPy arrays."""
    x = x.detach().requires_grad_()
    state_parts = () if state is None else (state if isinstance(state, tuple) else (state,))
    state_parts = tuple(s.detach().requires_grad_() for s in state_parts)
    given = None if state is None else (state_parts if isinstance(state, tuple) else state_parts[0])
    tg.manual_seed(seed)
    out, final = layer(x, given, lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    used = [out] + (list(finals) if use_state_outputs else [])
    loss = weighted_sum(used, upstream_like(used, np.random.default_rng(upstream_seed)))
    leaves = [x, *state_parts, *layer.parameters()]
    grads = tg.grad(loss, leaves, allow_unused=True)
    return nodes_of(out), [t.numpy() for t in (out, *finals)], [
        None if g is None else g.numpy() for g in grads]


def assert_same(fused, declared):
    (fused_node, fused_values, fused_grads), (declared_node, declared_values, declared_grads) = \
        fused, declared
    assert fused_node is FusedRecurrent and declared_node is not FusedRecurrent
    for a, b in zip(fused_values, declared_values):
        np.testing.assert_allclose(a, b, **TIGHT)
    for k, (a, b) in enumerate(zip(fused_grads, declared_grads)):
        if a is None or b is None:
            assert a is None and b is None or not np.any(a if a is not None else b), k
        else:
            np.testing.assert_allclose(a, b, **TIGHT, err_msg=f"gradient {k}")


@st.composite
def configurations(draw, kind):
    """A layer of ``kind`` and what it runs on: 1-3 layers, either direction, batch_first,
    bias or none, dropout between layers (plain or variational, train or eval mode), lengths
    (unsorted, 0 and T included, or none), a given initial state or none."""
    steps, batch = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    num_layers = draw(st.integers(1, 3))
    options = dict(num_layers=num_layers, bidirectional=draw(st.booleans()),
                   batch_first=draw(st.booleans()), bias=draw(st.booleans()))
    if num_layers > 1:
        options["dropout"] = draw(st.sampled_from([0.0, 0.3, 0.6]))
        options["variational_dropout"] = draw(st.booleans())
    input_size, hidden = draw(st.integers(1, 3)), draw(st.integers(3, 4))
    tg.manual_seed(draw(st.integers(0, 2**16)))
    layer = build(kind, input_size, hidden, **options)
    layer.train(draw(st.booleans()))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (batch, steps, input_size) if options["batch_first"] else (steps, batch, input_size)
    x = tg.tensor(rng.uniform(-2, 2, shape), dtype="float64")
    lengths = draw(st.none() | st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    state = random_state(layer, batch, rng) if draw(st.booleans()) else None
    return layer, x, state, lengths, draw(st.booleans())


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(data=st.data())
def test_fused_equals_declared(kind, data):
    """Outputs, final states and every gradient (input, initial state, all parameters) of the
    fused node equal those of the declared cells, run with the same parameters and seed (so
    the same dropout masks), to float64 rounding."""
    layer, x, state, lengths, use_state_outputs = data.draw(configurations(kind))
    fused = run(layer, x, state, lengths, 1, seed=5, use_state_outputs=use_state_outputs)
    layer.fused = False
    declared = run(layer, x, state, lengths, 1, seed=5, use_state_outputs=use_state_outputs)
    assert_same(fused, declared)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fused_equals_declared_everything_at_once(kind):
    """Three bidirectional batch-first layers, dropout in train mode, lengths [5, 0, 3, 5, 1],
    a given state: every feature of the kernel in one run."""
    tg.manual_seed(3)
    layer = build(kind, 3, 4, num_layers=3, bidirectional=True, batch_first=True, dropout=0.4)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.uniform(-2, 2, (5, 5, 3)), dtype="float64")
    state = random_state(layer, 5, rng)
    lengths = [5, 0, 3, 5, 1]
    fused = run(layer, x, state, lengths, 2, seed=9)
    layer.fused = False
    assert_same(fused, run(layer, x, state, lengths, 2, seed=9))


def test_frozen_weights_and_an_input_without_grad():
    """Only the gradients asked for: x and the first layer's input weights need none (so x is
    not kept), the rest equal the declared path's."""
    tg.manual_seed(0)
    layer = build("lstm", 3, 4, num_layers=2, bidirectional=True)
    for name, p in layer.named_parameters():
        if name.startswith("weight_ih_l0"):
            p.requires_grad = False
    x = tg.randn(4, 2, 3, dtype="float64")

    def grads():
        out, (h, c) = layer(x, lengths=[4, 2])
        loss = (out * out).sum() + h.sum()
        params = [p for p in layer.parameters() if p.requires_grad]
        return type(out._ctx), [g.numpy() for g in tg.grad(loss, params)]

    node, fused = grads()
    layer.fused = False
    _, declared = grads()
    assert node is FusedRecurrent
    for a, b in zip(fused, declared):
        np.testing.assert_allclose(a, b, **TIGHT)


def test_float32_is_close_to_the_declared_path():
    tg.manual_seed(1)
    for layer in (tg.nn.LSTM(4, 8, num_layers=2, proj_size=3), tg.nn.GRU(4, 8, bidirectional=True),
                  tg.nn.RNN(4, 8, nonlinearity="relu")):
        x = tg.randn(6, 3, 4, requires_grad=True)
        out = layer(x, lengths=[6, 2, 4])[0]
        (gx,) = tg.grad((out * out).sum(), [x])
        layer.fused = False
        out_declared = layer(x, lengths=[6, 2, 4])[0]
        (gx_declared,) = tg.grad((out_declared * out_declared).sum(), [x])
        assert out.dtype == gx.dtype == np.float32
        np.testing.assert_allclose(out.numpy(), out_declared.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gx.numpy(), gx_declared.numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- which path runs

@pytest.mark.parametrize("make, fused", [
    (lambda: tg.nn.LSTM(3, 4, proj_size=2, forget_bias=1.0), True),
    (lambda: tg.nn.GRU(3, 4, reset_after=False), True),
    (lambda: tg.nn.RNN(3, 4, nonlinearity="relu", bidirectional=True), True),
    (lambda: tg.nn.LSTM(3, 4, peephole=True), False),
    (lambda: tg.nn.LSTM(3, 4, forget_gate=False), False),
    (lambda: tg.nn.LSTM(3, 4, fused=False), False),
    (lambda: tg.nn.Recurrent([tg.nn.LSTMCell(3, 4)]), False),
], ids=["lstm_proj", "gru_reset_before", "rnn_relu", "peephole", "no_forget_gate", "fused_false",
        "recurrent"])
def test_one_node_where_a_kernel_exists(make, fused):
    """The supported variants run as one node whatever their layers, directions and lengths;
    the others (and fused=False, and user stacks) build the declared graph."""
    out = make()(tg.randn(5, 2, 3, requires_grad=True), lengths=[5, 3])[0]
    assert (type(out._ctx) is FusedRecurrent) == fused


def test_fused_must_be_a_flag():
    with pytest.raises(TypeError, match="fused must be True or False"):
        tg.nn.GRU(3, 4, fused=1)


def test_no_grad_runs_without_a_graph():
    layer = tg.nn.LSTM(3, 4, num_layers=2)
    with tg.no_grad():
        out, (h, c) = layer(tg.randn(5, 2, 3, requires_grad=True))
    assert not out.requires_grad and out._ctx is None and h.shape == (2, 2, 4)


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm_proj", "gru", "gru_reset_before"])
def test_fused_layer_gradcheck(kind):
    """Two bidirectional layers with dropout in train mode (gradcheck_module reseeds, so the
    masks stay fixed), lengths [4, 0, 2], a given state: every gradient against central
    differences in float64."""
    tg.manual_seed(2)
    layer = build(kind, 2, 3, num_layers=2, bidirectional=True, dropout=0.3)
    rng = np.random.default_rng(4)
    x = tg.tensor(rng.uniform(-1, 1, (4, 3, 2)), dtype="float64")
    state = random_state(layer, 3, rng)
    parts = state if isinstance(state, tuple) else (state,)

    def fn(x, *parts):
        out, final = layer(x, parts if len(parts) > 1 else parts[0], lengths=[4, 0, 2])
        return (out,) + (final if isinstance(final, tuple) else (final,))

    assert type(fn(x.detach().requires_grad_(), *parts)[0]._ctx) is FusedRecurrent
    assert gradcheck_module(fn, layer, x, *parts, max_elements=16, directions=6)


# ---------------------------------------------------------------- memory

def test_backward_releases_the_saved_buffers():
    """After backward the node has let go of everything it kept (the gate activations and
    states die with it); retain_graph keeps them intact for a second, equal backward."""
    import weakref
    layer = tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    x = tg.randn(5, 2, 3, dtype="float64", requires_grad=True)
    out, _ = layer(x, lengths=[5, 2])
    node = out._ctx
    kernels = node.saved[0]
    buffers = [weakref.ref(k.gates) for layer_kernels in kernels for k in layer_kernels]
    del kernels
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    first = x.grad.numpy()
    x.grad = None
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)
    assert node.saved is None
    gc.collect()
    assert all(ref() is None for ref in buffers)


def test_the_input_is_kept_only_for_the_first_layers_weight_gradient():
    """x is kept by the graph for dW_ih of the first layer, and only for that: with those
    weights frozen, the input's array dies with the input while the graph lives on."""
    import weakref
    layer = tg.nn.GRU(3, 4, num_layers=2, bidirectional=True)
    x = tg.randn(5, 2, 3)
    out, _ = layer(x)
    kept = weakref.ref(x.data)
    del x
    gc.collect()
    assert kept() is not None and out._ctx is not None
    for name, p in layer.named_parameters():
        p.requires_grad = not name.startswith("weight_ih_l0")
    x = tg.randn(5, 2, 3)
    out, _ = layer(x)
    kept = weakref.ref(x.data)
    del x
    gc.collect()
    assert kept() is None
    out.sum().backward()
    assert layer.weight_ih_l0.grad is None and layer.weight_hh_l0.grad is not None


def _traced(step):
    """Bytes held after ``step()`` returns what it keeps, and the peak while it ran."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = step()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del kept
    return held - before, peak - before


def test_the_graph_keeps_what_bptt_needs_and_no_more():
    """A 200-step, 2-layer LSTM (B=4, I=16, H=32, float64).

    Held after the forward: per layer what BPTT reads, the gate activations with tanh(c)
    (T, 5H, B), the hidden and cell states (T + 1, H, B) each; plus the output and the final
    states. The bound is that sum plus 25% for the weight copies and small arrays: the input x
    is referenced, never copied, and no step's temporaries survive. The declared path keeps
    each step's gates, activations and products as separate arrays: more than 1.5 times this.

    Peak of a training step: the held buffers plus, while one layer runs backward, its gate
    gradients (4H, T, B) and a few (H, T, B) arrays (output gradient, states and input by
    time, input gradient): 8 H T B floats over the held bound. The declared path frees each
    step's node as the walk passes it, so its peak is little over what it holds; the fused
    node frees everything at once, at the end, and still peaks lower.
    """
    steps, batch, inputs, hidden = 200, 4, 16, 32
    tg.manual_seed(0)
    layer = tg.nn.LSTM(inputs, hidden, num_layers=2).double()
    x = tg.randn(steps, batch, inputs, dtype="float64", requires_grad=True)

    def forward():
        return layer(x)

    def train_step():
        out, (h, c) = layer(x)
        (out.sum() + h.sum()).backward()
        for p in layer.parameters():
            p.grad = None
        x.grad = None

    floats = 8   # bytes
    per_layer = (5 * hidden * steps + 2 * hidden * (steps + 1)) * batch * floats
    held_bound = 1.25 * (2 * per_layer + (steps + 2 * 2) * batch * hidden * floats)
    peak_bound = held_bound + 8 * hidden * steps * batch * floats
    fused_held, _ = _traced(forward)
    _, fused_peak = _traced(train_step)
    layer.fused = False
    declared_held, _ = _traced(forward)
    _, declared_peak = _traced(train_step)
    assert fused_held <= held_bound, (fused_held, held_bound)
    assert fused_peak <= peak_bound, (fused_peak, peak_bound)
    assert fused_held < declared_held / 1.5, (fused_held, declared_held)
    assert fused_peak < 0.8 * declared_peak, (fused_peak, declared_peak)
