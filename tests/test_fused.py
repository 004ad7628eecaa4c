"""The fused RNN/LSTM/GRU kernels (tg.nn.fused) against the declared cells they replace, run op
by op (engine="graph") and recorded (engine="compiled"): equal outputs, final states and every
gradient over drawn configurations, sequences long enough to cross the BPTT's gradient flushes,
losses with and without the output, NaN in the padding, and float32; finite differences; one
node; the graph released after backward; memory that stays what BPTT needs. Each with the
steps' elementwise work compiled (Numba) and in NumPy operations."""
import gc
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.loop.replay import Scan
from tinygrad_seq.nn.fused import FusedRecurrent, walk
from tinygrad_seq.backend import cpu_loops
from tinygrad_seq.testing import assert_close, gradcheck_module

from recurrent_cases import random_state, rounding_terms, upstream_like, weighted_sum

TIGHT = dict(rtol=1e-10, atol=1e-12)   # float64: the same sums, grouped another way

# The fused BPTT copies its staged gate gradients out every 16 steps (walk.ByTime): lengths on
# each side of one and of two copies.
FLUSH_STEPS = (15, 16, 17, 31, 32, 33, 40)

# kind -> (layer class, options of that kind); the property test draws proj_size and
# forget_bias instead
KINDS = {
    "rnn_tanh": (tg.nn.RNN, dict(nonlinearity="tanh")),
    "rnn_relu": (tg.nn.RNN, dict(nonlinearity="relu")),
    "lstm": (tg.nn.LSTM, {}),
    "lstm_proj": (tg.nn.LSTM, dict(proj_size=3)),
    "lstm_forget_bias": (tg.nn.LSTM, dict(forget_bias=2.5)),
    "gru": (tg.nn.GRU, {}),
    "gru_reset_before": (tg.nn.GRU, dict(reset_after=False)),
}

# what the loss sees: the output, the final states, or the top layer's last hidden state alone
# (a many-to-one model: the output gets no gradient, a branch of its own in the fused BPTT)
LOSSES = ("output", "output and states", "states", "top hidden state")


@pytest.fixture(autouse=True, params=["compiled loops", "NumPy steps"])
def step_loops(request, monkeypatch):
    """Every test here runs the kernels both ways: each step's elementwise work as one
    compiled loop (Numba) and as NumPy operations (without Numba, and on CuPy)."""
    if request.param == "NumPy steps":
        monkeypatch.setenv("TINYGRAD_SEQ_CPU_LOOPS", "0")
    elif cpu_loops(np, np.float64) is None:
        pytest.skip("Numba is not installed")
    return request.param


def build(kind, input_size, hidden_size, **options):
    layer_class, own = KINDS[kind]
    own = {**own, **options}
    if not own.get("bias", True):
        own.pop("forget_bias", None)
    return layer_class(input_size, hidden_size, **own).double()


def nodes_of(out):
    """The type of the node that made ``out``."""
    return type(out._ctx)


def loss_terms(layer, out, finals, loss_on):
    """The tensors the loss of ``loss_on`` (one of ``LOSSES``) sums."""
    if loss_on == "output":
        return [out]
    if loss_on == "output and states":
        return [out, *finals]
    if loss_on == "states":
        return list(finals)
    top = 2 if layer.bidirectional else 1
    return [finals[0][-top:]]


def run(layer, x, state, lengths, upstream_seed, seed, loss_on="output and states"):
    """Outputs, final states and the gradients of a weighted sum of ``loss_on`` with respect to
    x, the initial state and every parameter (None where there is none), as NumPy arrays."""
    x = x.detach().requires_grad_()
    state_parts = () if state is None else (state if isinstance(state, tuple) else (state,))
    state_parts = tuple(s.detach().requires_grad_() for s in state_parts)
    given = None if state is None else (state_parts if isinstance(state, tuple) else state_parts[0])
    tg.manual_seed(seed)
    out, final = layer(x, given, lengths=lengths)
    finals = final if isinstance(final, tuple) else (final,)
    used = loss_terms(layer, out, finals, loss_on)
    loss = weighted_sum(used, upstream_like(used, np.random.default_rng(upstream_seed)))
    leaves = [x, *state_parts, *layer.parameters()]
    grads = tg.grad(loss, leaves, allow_unused=True)
    return nodes_of(out), [t.numpy() for t in (out, *finals)], [
        None if g is None else g.numpy() for g in grads]


def assert_same(fused, declared, compare=lambda a, b, what: np.testing.assert_allclose(
        a, b, **TIGHT, err_msg=what), fused_node=True):
    """The fused run's (or with ``fused_node=False`` the compiled run's) values and gradients
    equal the declared run's (``compare``, float64 to rounding by default) and are finite: NaN
    on both sides would compare equal."""
    (node, fused_values, fused_grads), (declared_node, declared_values, declared_grads) = \
        fused, declared
    assert (node is FusedRecurrent) == fused_node and declared_node is not FusedRecurrent
    for k, (a, b) in enumerate(zip(fused_values, declared_values)):
        assert_finite(a, f"fused value {k}")
        assert_finite(b, f"declared value {k}")
        compare(a, b, f"value {k}")
    for k, (a, b) in enumerate(zip(fused_grads, declared_grads)):
        if a is None or b is None:
            assert a is None and b is None or not np.any(a if a is not None else b), k
        else:
            assert_finite(a, f"fused gradient {k}")
            assert_finite(b, f"declared gradient {k}")
            compare(a, b, f"gradient {k}")


def assert_finite(a, what):
    """No NaN or infinity in ``a`` (``assert_allclose`` takes NaN on both sides as equal)."""
    bad = ~np.isfinite(a)
    if bad.any():
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} elements are not finite")


def padded(steps, lengths):
    """(T, B) bool: the positions at or past each sequence's length."""
    return np.arange(steps)[:, None] >= np.asarray(lengths)[None, :]


def kind_seed(kind, drawn):
    """A seed of its own for every kind: each kind's examples differ, even where hypothesis
    draws the same choices for two kinds."""
    return zlib.crc32(f"{kind} {drawn}".encode())


@st.composite
def configurations(draw, kind):
    """A layer of ``kind`` (hidden size 8-10; proj_size 3-5, forget_bias drawn) and what it
    runs on: 1-40 steps, half the time one of ``FLUSH_STEPS``, so that the ci profile's few
    examples reach the flushes too;
    1-3 layers, either direction, batch_first, bias or none, dropout between layers (plain or
    variational, train or eval mode), lengths (unsorted, 0 and T included, or none) with NaN or
    values in the padding, a given initial state or none, and what the loss sees."""
    steps = draw(st.sampled_from(FLUSH_STEPS)
                 | st.integers(1, 40).filter(lambda t: t not in FLUSH_STEPS))
    batch = draw(st.integers(1, 4))
    num_layers = draw(st.integers(1, 3))
    options = dict(num_layers=num_layers, bidirectional=draw(st.booleans()),
                   batch_first=draw(st.booleans()),
                   # forget_bias offsets the forget gate's bias: it needs one
                   bias=kind == "lstm_forget_bias" or draw(st.booleans()))
    if num_layers > 1:
        options["dropout"] = draw(st.sampled_from([0.0, 0.3, 0.6]))
        options["variational_dropout"] = draw(st.booleans())
    input_size, hidden = draw(st.integers(1, 3)), draw(st.integers(8, 10))
    if kind == "lstm_proj":
        options["proj_size"] = draw(st.integers(3, 5))
    if kind == "lstm_forget_bias":
        options["forget_bias"] = draw(st.sampled_from([2.0, -1.5, 0.5, 4.0]))
    tg.manual_seed(kind_seed(kind, draw(st.integers(0, 2**16))))
    layer = build(kind, input_size, hidden, **options)
    layer.train(draw(st.booleans()))
    rng = np.random.default_rng(kind_seed(kind, draw(st.integers(0, 2**16))))
    x = rng.uniform(-2, 2, (steps, batch, input_size))
    lengths = draw(st.none() | st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    if lengths is not None and draw(st.booleans()):
        x[padded(steps, lengths)] = np.nan
    x = tg.tensor(x.swapaxes(0, 1) if options["batch_first"] else x, dtype="float64")
    state = random_state(layer, batch, rng) if draw(st.booleans()) else None
    return layer, x, state, lengths, draw(st.sampled_from(LOSSES))


@pytest.mark.parametrize("kind", sorted(KINDS))
@given(data=st.data())
def test_fused_equals_declared(kind, data):
    """Outputs, final states and every gradient (input, initial state, all parameters) of the
    fused node, and of the compiled scans, equal those of the declared cells run op by op with
    the same parameters and seed (so the same dropout masks), to float64 rounding, and are
    finite with NaN in the padding."""
    layer, x, state, lengths, loss_on = data.draw(configurations(kind))
    fused = run(layer, x, state, lengths, 1, seed=5, loss_on=loss_on)
    layer.engine = "compiled"   # explicit: a step it cannot record raises, never falls back
    compiled = run(layer, x, state, lengths, 1, seed=5, loss_on=loss_on)
    layer.engine = "graph"
    declared = run(layer, x, state, lengths, 1, seed=5, loss_on=loss_on)
    assert_same(fused, declared)
    assert_same(compiled, declared, fused_node=False)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fused_equals_declared_everything_at_once(kind):
    """Three bidirectional batch-first layers, dropout in train mode, lengths [5, 0, 3, 5, 1],
    a given state: every feature of the kernel in one run, on every engine."""
    tg.manual_seed(3)
    layer = build(kind, 3, 4, num_layers=3, bidirectional=True, batch_first=True, dropout=0.4)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.uniform(-2, 2, (5, 5, 3)), dtype="float64")
    state = random_state(layer, 5, rng)
    lengths = [5, 0, 3, 5, 1]
    fused = run(layer, x, state, lengths, 2, seed=9)
    layer.engine = "compiled"
    compiled = run(layer, x, state, lengths, 2, seed=9)
    layer.engine = "graph"
    declared = run(layer, x, state, lengths, 2, seed=9)
    assert_same(fused, declared)
    assert_same(compiled, declared, fused_node=False)


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
    layer.engine = "graph"
    _, declared = grads()
    assert node is FusedRecurrent
    for a, b in zip(fused, declared):
        np.testing.assert_allclose(a, b, **TIGHT)


def long_case(kind, steps, **options):
    """Two bidirectional layers (hidden 8) over ``steps`` steps of 4 sequences of 3 features,
    lengths [T, 17, 16, 0] (unsorted, cut at T: sequences that end on each side of the first
    flush, and one that never starts), NaN in the padding, a given state."""
    tg.manual_seed(steps)
    layer = build(kind, 3, 8, num_layers=2, bidirectional=True, **options)
    rng = np.random.default_rng(steps)
    lengths = [steps, min(steps, 17), min(steps, 16), 0]
    x = rng.uniform(-2, 2, (steps, 4, 3))
    x[padded(steps, lengths)] = np.nan
    return layer, x, random_state(layer, 4, rng), lengths


@pytest.mark.parametrize("windows", ["one window", "windows of 16 steps"])
@pytest.mark.parametrize("steps", FLUSH_STEPS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_fused_equals_declared_across_gradient_flushes(kind, steps, windows, monkeypatch):
    """Sequences of 15-40 steps, on each side of the BPTT's copies of its staged gradients,
    with dropout in train mode, their weight gradients summed over the whole sequence at once
    or over windows of 16 steps (as a long sequence's are, walk.WINDOW_COLUMNS): every value
    and gradient equals the declared path's."""
    if windows != "one window":
        monkeypatch.setattr(walk, "WINDOW_COLUMNS", 1)   # the window's floor: the 16-step stage
    layer, x, state, lengths = long_case(kind, steps, dropout=0.3)
    x = tg.tensor(x, dtype="float64")
    fused = run(layer, x, state, lengths, steps, seed=7)
    layer.engine = "graph"
    assert_same(fused, run(layer, x, state, lengths, steps, seed=7))


@pytest.mark.parametrize("loss_on", ["states", "top hidden state"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_loss_on_the_final_states_alone(kind, loss_on):
    """No gradient reaches the output (a many-to-one model): 40 steps, every gradient equals
    the declared path's."""
    layer, x, state, lengths = long_case(kind, 40)
    x = tg.tensor(x, dtype="float64")
    fused = run(layer, x, state, lengths, 3, seed=1, loss_on=loss_on)
    layer.engine = "graph"
    assert_same(fused, run(layer, x, state, lengths, 3, seed=1, loss_on=loss_on))


@pytest.mark.parametrize("engine", ["fused", "compiled", "graph"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_nan_in_the_padding_changes_nothing(kind, engine):
    """The positions at or past a sequence's length are never read: NaN there gives what
    values there give (the padding is selected away; multiplied by zero, 0 * NaN would be NaN)
    and the gradient there is exactly zero, on every engine."""
    layer, x, state, lengths = long_case(kind, 20, dropout=0.3)
    layer.engine = engine
    runs = []
    for fill in (np.nan, 0.5):
        x[padded(20, lengths)] = fill
        runs.append(run(layer, tg.tensor(x, dtype="float64"), state, lengths, 2, seed=4))
    (node, nan_values, nan_grads), (_, values, grads) = runs
    assert (node is FusedRecurrent) == (engine == "fused")
    for k, (a, b) in enumerate(zip(nan_values + nan_grads, values + grads)):
        assert_finite(a, f"{engine}: value or gradient {k}")
        np.testing.assert_array_equal(a, b, err_msg=f"{engine}: value or gradient {k}")
    assert not nan_grads[0][padded(20, lengths)].any()


def cast(state, dtype):
    """A layer's state (a tensor or a tuple of them) converted to ``dtype``."""
    parts = tuple(part.astype(dtype) for part in (state if isinstance(state, tuple) else (state,)))
    return parts if len(parts) > 1 else parts[0]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_float32_equals_float64_on_every_engine(kind):
    """40 steps in float32, on each engine: outputs, final states and every gradient (input,
    initial state, all parameters) equal the float64 declared run from the same values (the
    weights are drawn in float32), to float32 rounding over the chain of steps."""
    layer, x, state, lengths = long_case(kind, 40)
    x32, state32 = tg.tensor(x, dtype="float32"), cast(state, "float32")
    layer.engine = "graph"
    expected = run(layer, x32.double(), cast(state32, "float64"), lengths, 8, seed=2)
    terms = rounding_terms(3, layer.hidden_size, 40, num_layers=2, bidirectional=True, batch=4)
    layer.float()
    for engine in ("fused", "compiled", "graph"):
        layer.engine = engine
        node, values, grads = run(layer, x32, state32, lengths, 8, seed=2)
        assert (node is FusedRecurrent) == (engine == "fused")
        for k, (a, b) in enumerate(zip(values + grads, expected[1] + expected[2])):
            what = f"{engine}: {'value' if k < len(values) else 'gradient'} {k}"
            assert a.dtype == np.float32, what
            assert_finite(a, what)
            assert_close(a, b, terms=terms, err_msg=what)


# ---------------------------------------------------------------- which path runs

@pytest.mark.parametrize("make, node", [
    (lambda: tg.nn.LSTM(3, 4, proj_size=2, forget_bias=1.0), FusedRecurrent),
    (lambda: tg.nn.GRU(3, 4, reset_after=False), FusedRecurrent),
    (lambda: tg.nn.RNN(3, 4, nonlinearity="relu", bidirectional=True), FusedRecurrent),
    (lambda: tg.nn.LSTM(3, 4, peephole=True), Scan),
    (lambda: tg.nn.LSTM(3, 4, forget_gate=False), Scan),
    (lambda: tg.nn.LSTM(3, 4, engine="compiled"), Scan),
    (lambda: tg.nn.LSTM(3, 4, engine="graph"), None),
    (lambda: tg.nn.Recurrent([tg.nn.LSTMCell(3, 4)]), Scan),
], ids=["lstm_proj", "gru_reset_before", "rnn_relu", "peephole", "no_forget_gate", "compiled",
        "graph", "recurrent"])
def test_one_node_where_a_kernel_exists(make, node):
    """engine="auto": the variants with a kernel run as one fused node whatever their layers,
    directions and lengths, the others (peephole, no forget gate, user stacks) as one compiled
    scan per layer and direction; "graph" builds the declared graph, a node per op."""
    out = make()(tg.randn(5, 2, 3, requires_grad=True), lengths=[5, 3])[0]
    if node is None:
        assert type(out._ctx) not in (FusedRecurrent, Scan)
    else:
        assert type(out._ctx) is node


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
    layer = build(kind, 2, 4, num_layers=2, bidirectional=True, dropout=0.3)
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
    layer.engine = "graph"
    declared_held, _ = _traced(forward)
    _, declared_peak = _traced(train_step)
    assert fused_held <= held_bound, (fused_held, held_bound)
    assert fused_peak <= peak_bound, (fused_peak, peak_bound)
    assert fused_held < declared_held / 1.5, (fused_held, declared_held)
    assert fused_peak < 0.8 * declared_peak, (fused_peak, declared_peak)
