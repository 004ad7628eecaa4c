"""The engines of the sequence layers (``engine="graph" | "compiled" | "fused" | "auto"``): equal
results on every variant, what "auto" picks, the errors, and the seam itself: the engines are
handed cells, masks and dropout masks, never the layer."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.loop.replay import Scan
from tinygrad_seq.nn import recurrent
from tinygrad_seq.nn.fused import FusedRecurrent

from recurrent_cases import (KINDS, REQUIRED_CONFIGS, MinimalGatedUnit, flatten_state, layer_cases,
                             layout, required_case, unflatten_state, upstream_like,
                             weighted_sum)

TIGHT = dict(rtol=1e-10, atol=1e-12)   # float64: the same sums, grouped another way


def has_kernel(layer):
    return not isinstance(layer, tg.nn.Recurrent) and tg.nn.fused.kernel_maker(
        layer.cells_by_layer[0][0]) is not None


def results(case, engine, seed=3):
    """Output, final state and the gradients (input, initial state, every parameter) of a
    weighted sum of both, on ``engine``, with the dropout masks of ``seed``."""
    layer, config = case.layer, case.config
    layer.engine = engine
    x = tg.tensor(layout(case.x, config.batch_first).numpy(), dtype="float64", requires_grad=True)
    parts = [] if case.state is None else [p.detach().requires_grad_()
                                           for p in flatten_state(case.state)]
    state = None if case.state is None else unflatten_state(case.state, parts)
    tg.manual_seed(seed)
    out, final = layer(x, state, lengths=case.lengths)
    used = [out, *flatten_state(final)]
    loss = weighted_sum(used, upstream_like(used, np.random.default_rng(case.seed)))
    grads = tg.grad(loss, [x, *parts, *layer.parameters()], allow_unused=True)
    return [t.numpy() for t in used] + [None if g is None else g.numpy() for g in grads]


def assert_engines_equal(case):
    """Every engine the layer has gives the op-by-op run's values and gradients, to float64
    rounding, finite."""
    expected = results(case, "graph")
    for engine in ("compiled", "fused") if has_kernel(case.layer) else ("compiled",):
        got = results(case, engine)
        for k, (a, b) in enumerate(zip(got, expected)):
            if a is None or b is None:
                assert a is None and b is None, f"{engine}: gradient {k}"
                continue
            assert np.isfinite(a).all(), f"{engine}: value or gradient {k}"
            np.testing.assert_allclose(a, b, **TIGHT, err_msg=f"{engine}: value or gradient {k}")


@pytest.mark.parametrize("name", sorted(REQUIRED_CONFIGS))
def test_every_engine_equals_graph_required(name):
    """Every variant (peephole, no forget gate, forget_bias, proj_size, both GRU forms, a user
    cell, a mixed stack), two bidirectional layers where the variant stacks, lengths [4, 0, 2],
    a given state, dropout between layers in train mode (the same masks on every engine)."""
    stacked = REQUIRED_CONFIGS[name].options["num_layers"] > 1
    case = required_case(name, **(dict(dropout=0.4) if stacked else {}))
    case.layer.train()
    assert_engines_equal(case)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_every_engine_equals_graph(kind, data):
    """Drawn layers of every kind and variant: 1-2 layers, either direction, batch_first,
    lengths (0, unsorted) or none, a given or zero state, dropout in train mode or none."""
    case = data.draw(layer_cases(kinds=(kind,), max_steps=5))
    case.layer.dropout = data.draw(st.sampled_from([0.0, 0.5]))
    assert_engines_equal(case)


# ---------------------------------------------------------------- what auto picks

class ReadsItsState(MinimalGatedUnit):
    """A cell whose step reads a value back into Python: a recorded step cannot replay it."""

    def step(self, x_proj, h):
        h, _ = super().step(x_proj, h)
        return (h, h) if h.sum().item() < 1e9 else (h * 0, h * 0)


def test_auto_falls_back_to_graph_with_a_warning_and_compiled_raises():
    tg.manual_seed(0)
    layer = tg.nn.Recurrent([ReadsItsState(3, 4)]).double()
    x = tg.randn(5, 2, 3, dtype="float64")
    layer.engine = "graph"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = layer(x, lengths=[5, 2])[0].numpy()
    layer.engine = "auto"
    with pytest.warns(tg.ScanFallbackWarning, match=r"numpy\(\), item\(\).*test_engines.py"):
        out = layer(x, lengths=[5, 2])[0]
    np.testing.assert_array_equal(out.numpy(), expected)
    layer.engine = "compiled"
    with pytest.raises(tg.Untraceable, match="item"):
        layer(x)


@pytest.mark.parametrize("make, engine", [
    (lambda: tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True), "fused"),
    (lambda: tg.nn.GRU(3, 4, reset_after=False), "fused"),
    (lambda: tg.nn.RNN(3, 4, nonlinearity="relu"), "fused"),
    (lambda: tg.nn.LSTM(3, 4, peephole=True), "compiled"),
    (lambda: tg.nn.LSTM(3, 4, forget_gate=False), "compiled"),
    (lambda: tg.nn.Recurrent([MinimalGatedUnit(3, 4)]), "compiled"),
], ids=["lstm", "gru_reset_before", "rnn_relu", "peephole", "no_forget_gate", "recurrent"])
def test_auto_picks_fused_where_a_kernel_exists_else_compiled(make, engine):
    """The engine attribute stays "auto"; the node behind the output says what ran."""
    layer = make()
    assert layer.engine == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # a compiled run never fell back
        out = layer(tg.randn(5, 2, 3, requires_grad=True), lengths=[5, 3])[0]
    node = out._ctx
    if engine == "compiled":
        assert type(node) is Scan
    else:
        assert type(node) is FusedRecurrent


# ---------------------------------------------------------------- errors and the attribute

@pytest.mark.parametrize("make", [
    lambda **kw: tg.nn.RNN(3, 4, **kw), lambda **kw: tg.nn.LSTM(3, 4, **kw),
    lambda **kw: tg.nn.GRU(3, 4, **kw), lambda **kw: tg.nn.Recurrent([tg.nn.GRUCell(3, 4)], **kw),
], ids=["rnn", "lstm", "gru", "recurrent"])
def test_engine_is_checked_and_fused_is_no_longer_an_argument(make):
    for bad in ("fast", 1, None, True):
        with pytest.raises(ValueError, match=r"engine must be one of 'auto', 'graph', "
                                             r"'compiled', 'fused', got"):
            make(engine=bad)
    with pytest.raises(TypeError, match="fused"):
        make(fused=True)
    layer = make()
    with pytest.raises(ValueError, match="engine must be one of"):
        layer.engine = "declared"
    assert layer.engine == "auto"
    layer.engine = "graph"
    assert layer.engine == "graph" and "engine=graph" in repr(layer)
    assert "engine" not in repr(make())


@pytest.mark.parametrize("make, cell", [
    (lambda **kw: tg.nn.LSTM(3, 4, peephole=True, **kw),
     r"LSTMCell\(3, 4, bias=True, peephole=True\)"),
    (lambda **kw: tg.nn.LSTM(3, 4, forget_gate=False, **kw),
     r"LSTMCell\(3, 4, bias=True, forget_gate=False\)"),
    (lambda **kw: tg.nn.Recurrent([MinimalGatedUnit(3, 4), tg.nn.GRUCell(4, 4)], **kw),
     r"a Recurrent stack of cells \(MinimalGatedUnit, GRUCell\)"),
], ids=["peephole", "no_forget_gate", "recurrent"])
def test_fused_without_a_kernel_is_refused_naming_the_cell(make, cell):
    with pytest.raises(ValueError, match=rf"engine='fused' runs a hand-written kernel, and {cell} "
                                         rf"has none; use engine='compiled'"):
        make(engine="fused")
    layer = make()
    with pytest.raises(ValueError, match=cell):
        layer.engine = "fused"
    assert layer.engine == "auto"


def test_the_engine_is_no_part_of_the_state_dict():
    """A state dict saved under one engine loads under another and gives the same results."""
    tg.manual_seed(0)
    fused = tg.nn.LSTM(3, 4, num_layers=2, proj_size=2).double()
    graph = tg.nn.LSTM(3, 4, num_layers=2, proj_size=2, engine="graph").double()
    assert list(fused.state_dict()) == list(graph.state_dict())
    graph.load_state_dict(fused.state_dict())
    x = tg.randn(4, 2, 3, dtype="float64")
    np.testing.assert_allclose(graph(x)[0].numpy(), fused(x)[0].numpy(), **TIGHT)
    assert graph.engine == "graph" and fused.engine == "auto"


# ---------------------------------------------------------------- the seam

def _holds_a_layer(value, seen=None):
    """Whether ``value`` is, contains (in lists, tuples, dicts) or closes over a sequence layer."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return False
    seen.add(id(value))
    if isinstance(value, recurrent.SequenceLayer):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_a_layer(v, seen) for v in value)
    if isinstance(value, dict):
        return any(_holds_a_layer(v, seen) for v in value.values())
    closure = getattr(value, "__closure__", None) or ()
    return any(_holds_a_layer(c.cell_contents, seen) for c in closure)


@pytest.mark.parametrize("engine", ["fused", "compiled", "graph"])
def test_the_engines_are_handed_plain_data_never_the_layer(engine, monkeypatch):
    """Every call from the layer into an engine (``tg.nn.fused.run``, ``tg.scan``) is spied on:
    no argument is, holds or closes over the layer (nor a bound method of it); the fused
    driver gets the dropout masks and the running mask as arrays."""
    calls = []

    def spy(real):
        def call(*args, **kwargs):
            calls.append((args, kwargs))
            return real(*args, **kwargs)
        return call

    monkeypatch.setattr(recurrent.fused_kernels, "run", spy(recurrent.fused_kernels.run))
    monkeypatch.setattr(recurrent, "scan", spy(recurrent.scan))
    tg.manual_seed(0)
    layer = tg.nn.GRU(3, 4, num_layers=2, bidirectional=True, dropout=0.5, engine=engine)
    out, _ = layer(tg.randn(5, 2, 3), tg.zeros(4, 2, 4), lengths=[5, 2])
    assert len(calls) == (1 if engine == "fused" else 4)
    for args, kwargs in calls:
        assert not _holds_a_layer([*args, kwargs]), (args, kwargs)
        assert not any(getattr(a, "__self__", None) is layer for a in [*args, *kwargs.values()])
    if engine == "fused":
        kwargs = calls[0][1]
        assert kwargs["running"].dtype == bool and kwargs["running"].shape == (5, 2)
        assert kwargs["drops"][0] is None and kwargs["drops"][1].shape == (5, 2, 8)
        assert all(isinstance(d, np.ndarray) for d in kwargs["drops"][1:])


def test_the_fused_driver_runs_from_cells_alone():
    """``tg.nn.fused.run`` given the cells of a layer (and no layer) computes what the layer
    does: the layer is not needed to run its kernels."""
    tg.manual_seed(1)
    layer = tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2).double().eval()
    x = tg.randn(6, 3, 3, dtype="float64")
    out, (h, c) = layer(x, lengths=[6, 0, 4])
    cells = [cell for cells in layer.cells_by_layer for cell in cells]
    running = np.arange(6)[:, None] < np.array([6, 0, 4])[None, :]
    got, (got_h, got_c) = tg.nn.fused.run(x, None, cells, directions=2, batch_first=False,
                                          running=running, drops=[None, None])
    for a, b in ((got, out), (got_h, h), (got_c, c)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="no hand-written kernel runs LSTMCell"):
        tg.nn.fused.run(x, None, [tg.nn.LSTMCell(3, 4, peephole=True).double()], directions=1,
                        batch_first=False, running=None, drops=[None])
