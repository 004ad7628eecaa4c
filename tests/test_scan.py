"""tg.scan: the compiled engine equals the graph engine (outputs, final carries, every gradient,
float64 to rtol 1e-10) on random step functions (tests/scan_cases.py), on chosen ones and on the
built-in cells; lengths as if each sequence ran alone; gradients against finite differences
under both engines. tests/test_scan_contract.py holds the rest of the contract."""
import warnings
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.nn import functional as F
from tinygrad_seq.testing import gradcheck, gradcheck_module

from recurrent_cases import CELLS, examples
from scan_cases import (ENGINES, VOCABULARY, Closure, Node, Program, Scenario, assert_same,
                        random_tensor as tensor, run, scenarios)


def property_examples(n):
    """``n`` examples under the ``ci`` profile (an example runs two engines on a few tiny scans,
    about 15 ms), ten times the profile's own count under dev and thorough."""
    default = settings.default.max_examples
    return settings(max_examples=n if default <= 15 else max(n, 10 * default))


# ---------------------------------------------------------------- random step functions

@property_examples(400)
@given(scenario=scenarios())
def test_compiled_equals_graph_on_random_steps(scenario):
    """A random DAG of registry ops over random carry and input structures and closures, run as
    one scan, two stacked or a bidirectional pair, with lengths, reverse, dropout in train and
    eval, and scans inside the step."""
    expected = run(scenario, "graph")
    assert_same(run(scenario, "compiled"), expected, "compiled vs graph")


def _one_program(nodes, extras=False):
    """A hand-written step on a carry and an input of width 3, each node yielding values of
    width 3 (an inner scan two of them): the new carry is tanh of the last value, y the last.
    ``extras``: a (B, 2, 3) memory carry (pool value 3) and token inputs (pool value 2, their
    embedding closure 1), a (B,) y too."""
    first = 4 if extras else 2
    last = first - 1 + sum(2 if node.op == "scan" else 1 for node in nodes)
    return Program(carry_tree=0, carry_widths=(3,), x_tree=0, x_widths=(3,), pool_closures=(),
                   nodes=tuple(nodes), carry_out=((last, None, True),), y_tree=(0, 1) if extras
                   else 0, y_out=((last, False), (last, True)) if extras else ((last, False),),
                   widths=(3,) * (last + 1), memory=3 if extras else None,
                   memory_out=(last, None) if extras else None, tokens=1 if extras else None)


# h' = tanh(W h * dropout(x) + dropout(h)): masks on a carry-free and a carry-dependent value
_DROPOUT = _one_program([Node("linear", (0,), (0,)), Node("dropout", (1,), option=0.5),
                         Node("binary", (2, 3), option="mul"), Node("dropout", (0,), option=0.25),
                         Node("binary", (4, 5), option="add")])
# an inner scan over (v, tanh(v)) inside the step, forward and reversed, and with dropout on
# its ys (in train)
_NESTED = _one_program([Node("linear", (0,), (0,)), Node("binary", (2, 1), option="add"),
                        Node("scan", (3,), (0,), option=(False, 0.0))])
_NESTED_REVERSED = _one_program([Node("linear", (0,), (0,)),
                                 Node("scan", (2,), (0,), option=(True, 0.0)),
                                 Node("binary", (3, 1), option="mul")])
_NESTED_DROPOUT = _one_program([Node("linear", (0,), (0,)),
                                Node("scan", (2,), (0,), option=(False, 0.25)),
                                Node("binary", (4, 1), option="add")])
# chunk(·, 1): a split op with one output
_ONE_PIECE = _one_program([Node("linear", (0,), (0,)), Node("chunk", (2,), option=1),
                           Node("binary", (3, 1), option="add")])
# greedy decoding: the embedding of the argmax of W h fed back
_FEEDBACK = _one_program([Node("linear", (0,), (0,)), Node("feedback", (2,), (0,)),
                          Node("binary", (3, 1), option="add")])
# token embeddings, a (B, 2, 3) memory, a (B,) y
_EXTRAS = _one_program([Node("linear", (0,), (0,)), Node("binary", (4, 2), option="add"),
                        Node("binary", (5, 3), option="mul")], extras=True)
# a (3,) input shared by the batch (its product with a (B, 1) constant stays in the loop)
_SHARED_INPUT = replace(_one_program([Node("linear", (0,), (0,)),
                                      Node("binary", (2, 1), option="mul")]), x_widths=(-3,))


CHOSEN = {"dropout": _DROPOUT, "nested": _NESTED, "nested_reversed": _NESTED_REVERSED,
          "nested_dropout": _NESTED_DROPOUT, "one_piece_chunk": _ONE_PIECE,
          "feedback": _FEEDBACK, "tokens_memory": _EXTRAS, "shared_input": _SHARED_INPUT}


@pytest.mark.parametrize("layout", ["single", "stacked", "bidirectional"])
@pytest.mark.parametrize("name", sorted(CHOSEN))
def test_compiled_equals_graph_on_chosen_steps(name, layout):
    """The features the random steps may draw rarely, each here for sure: with and without
    lengths, forward and reversed, train and eval."""
    closures = (Closure((3, 3), True), Closure((VOCABULARY, 3), True))
    programs = (CHOSEN[name],)
    if layout == "stacked":  # the second scan reads the first one's ys
        first = programs[0]
        programs += (replace(first, x_tree=first.y_tree, tokens=None, x_widths=tuple(
            0 if squeezed else 3 for _, squeezed in first.y_out)),)
    for lengths in (None, (4, 0, 2)):
        for reverse in (False, True):
            for train in (True, False):
                scenario = Scenario(batch=3, steps=4, layout=layout, programs=programs,
                                    closures=closures, lengths=lengths, reverse=reverse,
                                    train=train, seed=7)
                expected = run(scenario, "graph")
                assert_same(run(scenario, "compiled"), expected, f"compiled vs graph, lengths="
                            f"{lengths}, reverse={reverse}, train={train}")


def test_dropout_inside_a_step_draws_the_graph_masks_in_train_only():
    """The masks are those of the graph engine under one seed; in eval, dropout is the identity
    (the result of both engines then differs from train's)."""
    rng = np.random.default_rng(0)
    x, h0 = tensor(rng, 6, 4, 5), tensor(rng, 4, 5)

    def step(h, x):
        h = tg.tanh(F.dropout(h, 0.5, training=train) + x)
        return h, h

    results = {}
    for train in (True, False):
        for engine in ENGINES:
            tg.manual_seed(3)
            results[train, engine] = tg.scan(step, h0, x, engine=engine)[1].numpy()
    np.testing.assert_array_equal(results[True, "compiled"], results[True, "graph"])
    np.testing.assert_array_equal(results[False, "compiled"], results[False, "graph"])
    assert not np.array_equal(results[True, "graph"], results[False, "graph"])


# ---------------------------------------------------------------- the built-in cells

def cell_step(cell, dropout=0.0):
    """A scan step of a cell: the input projected inside the step (hoisted by the compiled
    engine), the cell's own step, its output as y (dropped out in train)."""
    def step(state, x):
        out, state = cell.step(cell.project(x), state)
        return state, F.dropout(out, dropout, training=cell.training)
    return step


def two_layers(first, second, x, state, lengths, reverse, engine):
    """A bidirectional layer (a forward and a reversed scan, outputs side by side) feeding a
    second layer that starts from the first's final forward state: stacking and bidirection."""
    forward_state, out = tg.scan(cell_step(first, 0.25), state, x, lengths=lengths,
                                 reverse=reverse, engine=engine)
    backward_state, out_back = tg.scan(cell_step(first, 0.25), state, x, lengths=lengths,
                                       reverse=not reverse, engine=engine)
    both = tg.concatenate([out, out_back], axis=-1)
    final, top = tg.scan(cell_step(second), forward_state, both, lengths=lengths, engine=engine)
    return [top, out, *_parts(backward_state), *_parts(final)]


def _parts(state):
    return list(state) if isinstance(state, tuple) else [state]


def _run_cells(variant, engine, sizes, lengths, reverse, seed, train):
    input_size, hidden_size, batch, steps = sizes
    tg.manual_seed(seed)
    first = CELLS[variant](input_size, hidden_size).double()
    second = CELLS[variant](2 * first.output_size, hidden_size).double()
    first.train(train), second.train(train)
    rng = np.random.default_rng(seed)
    x = tensor(rng, steps, batch, input_size, low=-2, high=2)
    state = first.initial_state(batch, x)
    state = tuple(tensor(rng, *s.shape) for s in state) if isinstance(state, tuple) else tensor(
        rng, *state.shape)
    tg.manual_seed(seed)
    outputs = two_layers(first, second, x, state, lengths, reverse, engine)
    loss = sum((o * tg.tensor(rng.normal(size=o.shape), dtype="float64")).sum() for o in outputs)
    loss.backward()
    result = {f"output {k}": o.numpy() for k, o in enumerate(outputs)}
    result["grad x"] = x.grad.numpy()
    result.update({f"grad state {k}": s.grad.numpy() for k, s in enumerate(_parts(state))})
    for name, cell in (("first", first), ("second", second)):
        result.update({f"grad {name}.{p}": t.grad.numpy() for p, t in cell.named_parameters()})
    return result


@pytest.mark.parametrize("variant", sorted(CELLS))
@examples(10)
@given(sizes=st.tuples(st.integers(1, 3), st.integers(2, 4), st.integers(1, 3), st.integers(1, 5)),
       lengths=st.sampled_from(["none", "full", "random"]), reverse=st.booleans(),
       train=st.booleans(), data=st.data(), seed=st.integers(0, 2**16))
def test_cells_compiled_equal_graph(variant, sizes, lengths, reverse, train, data, seed):
    """Each cell and variant, cell.project and cell.step inside the step, as a bidirectional
    layer under a second layer: outputs, final states and the gradients of every parameter,
    the input and the initial state."""
    batch, steps = sizes[2], sizes[3]
    if lengths == "full":
        lengths = [steps] * batch
    elif lengths == "random":
        lengths = data.draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch))
    else:
        lengths = None
    expected = _run_cells(variant, "graph", sizes, lengths, reverse, seed, train)
    actual = _run_cells(variant, "compiled", sizes, lengths, reverse, seed, train)
    assert_same(actual, expected, f"{variant}: compiled vs graph")


@pytest.mark.parametrize("lengths", [None, [3, 0]], ids=["full", "lengths"])
def test_auto_compiles_a_cell_without_warning(lengths):
    """A traceable step under engine="auto" runs as one scan node, with no warning, and gives
    the graph engine's result."""
    cell = tg.nn.LSTMCell(2, 3, peephole=True).double()
    rng = np.random.default_rng(11)
    x = tensor(rng, 3, 2, 2)
    state = (tensor(rng, 2, 3), tensor(rng, 2, 3))
    results = {}
    for engine in ("auto", "graph"):
        tg.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", tg.ScanFallbackWarning)
            results[engine] = tg.scan(cell_step(cell, 0.5), state, x, lengths=lengths,
                                      engine=engine)
    assert results["auto"][1].grad_fn.name == "scan"
    for a, e in zip(_parts(results["auto"][0]) + [results["auto"][1]],
                    _parts(results["graph"][0]) + [results["graph"][1]]):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-12, atol=1e-14)


def test_calls_of_one_signature_share_a_plan_but_not_their_inputs():
    """Calls with the same shapes and ops but other closures, other needs of gradients, grad
    mode off, and another dropout rate: each equals the graph engine."""
    rng = np.random.default_rng(12)
    x = tensor(rng, 3, 2, 3)

    def run_once(engine, weight, bias, p, grad_mode):
        def step(h, x_t):
            h = tg.tanh(F.linear(h, weight) + F.dropout(x_t, p) + bias)
            return h, h
        h0 = tg.zeros(2, 3, dtype="float64")
        tg.manual_seed(1)
        with tg.enable_grad() if grad_mode else tg.no_grad():
            h, ys = tg.scan(step, h0, x, engine=engine)
        result = [h.numpy(), ys.numpy()]
        if grad_mode and ys.requires_grad:
            (ys * ys).sum().backward()
            for t in (weight, bias, x):
                result.append(None if t.grad is None else t.grad.numpy().copy())
                t.grad = None
        return result

    for weight_grad, bias_grad, p, grad_mode in [(True, False, 0.5, True), (False, True, 0.5, True),
                                                 (True, True, 0.5, False), (True, True, 0.25, True),
                                                 (False, False, 0.5, True)]:
        weight = tensor(rng, 3, 3, requires_grad=weight_grad)
        bias = tensor(rng, 3, requires_grad=bias_grad)
        expected = run_once("graph", weight, bias, p, grad_mode)
        actual = run_once("compiled", weight, bias, p, grad_mode)
        for a, e in zip(actual, expected):
            assert (a is None) == (e is None)
            if e is not None:
                np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


def test_compiled_equals_graph_on_device(device):
    """An LSTM cell with dropout and lengths on each device: outputs and gradients."""
    cell = tg.nn.LSTMCell(2, 3, proj_size=2).double().to(device)
    rng = np.random.default_rng(13)
    x = tg.tensor(rng.uniform(-1, 1, (4, 3, 2)), dtype="float64", device=device,
                  requires_grad=True)
    results = {}
    for engine in ENGINES:
        tg.manual_seed(2)
        (h, c), ys = tg.scan(cell_step(cell, 0.5), cell.initial_state(3, x), x,
                             lengths=[4, 0, 2], engine=engine)
        (h.sum() + (c * c).sum() + (ys * ys).sum()).backward()
        results[engine] = [t.numpy() for t in (h, c, ys, x.grad)] + [
            p.grad.numpy() for p in cell.parameters()]
        x.grad = None
        cell.zero_grad()
    for a, e in zip(results["compiled"], results["graph"]):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_lengths_run_each_sequence_as_if_alone(engine, reverse):
    """With lengths, a sequence's final carry and ys are those of the scan over its own steps
    alone (reversed: from its own last step), its ys past its end are zero, and no gradient
    reaches its inputs past its end."""
    rng = np.random.default_rng(15)
    weight, x, h0 = tensor(rng, 3, 3), tensor(rng, 5, 4, 3), tensor(rng, 4, 3)
    lengths = [3, 0, 5, 1]

    def step(h, x):
        h = tg.tanh(F.linear(h, weight) + x)
        return h, h * 2.0

    h, ys = tg.scan(step, h0, x, lengths=lengths, reverse=reverse, engine=engine)
    ys.sum().backward()
    for b, n in enumerate(lengths):
        alone_h, alone_ys = tg.scan(step, h0[b:b + 1], x[:n, b:b + 1], reverse=reverse,
                                    engine="graph")
        np.testing.assert_allclose(h.numpy()[b:b + 1], alone_h.numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(ys.numpy()[:n, b:b + 1], alone_ys.numpy(), rtol=1e-12,
                                   atol=1e-14)
        assert not ys.numpy()[n:, b].any()
        assert not x.grad.numpy()[n:, b].any()
        assert x.grad.numpy()[:n, b].all()


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_dropout_of_a_closure_draws_a_mask_per_step(reverse):
    """Dropout on a loop-invariant weight (a mask per step, DropConnect-like) stays in the loop:
    its masks, and so the outputs and gradients, are the graph engine's."""
    rng = np.random.default_rng(16)
    weight, x, h0 = tensor(rng, 3, 3), tensor(rng, 4, 2, 3), tensor(rng, 2, 3)

    def step(h, x):
        h = tg.tanh(F.linear(h, F.dropout(weight, 0.5)) + x)
        return h, h

    results = {}
    for engine in ENGINES:
        tg.manual_seed(5)
        h, ys = tg.scan(step, h0, x, reverse=reverse, engine=engine)
        (ys * ys).sum().backward()
        results[engine] = [h.numpy(), ys.numpy(), weight.grad.numpy(), x.grad.numpy(),
                           h0.grad.numpy()]
        weight.grad = x.grad = h0.grad = None
    for a, e in zip(results["compiled"], results["graph"]):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_scan_gradcheck(engine, reverse):
    """A step with a loop-invariant weight (its gradient summed over steps), an encoder output
    computed from the inputs outside the step, chunk, softmax and a (B, 1) reduction, with
    unsorted lengths: every gradient against central differences."""
    rng = np.random.default_rng(1)
    lengths = np.array([3, 0, 2])

    def fn(x, h0, weight, weight_in, weight_enc):
        encoder = tg.tanh(F.linear(x.sum(axis=0), weight_enc))

        def step(h, x_t):
            gate, cand = tg.chunk(F.linear(h, weight) + F.linear(x_t, weight_in), 2, axis=-1)
            attention = tg.softmax(cand * encoder, axis=-1)
            h = tg.sigmoid(gate) * h + tg.tanh(attention - h.mean(axis=-1, keepdims=True))
            return h, (h, attention)
        h, (ys, attentions) = tg.scan(step, h0, x, lengths=lengths, reverse=reverse,
                                      engine=engine)
        return h, ys, attentions

    assert gradcheck(fn, tensor(rng, 3, 3, 2), tensor(rng, 3, 2), tensor(rng, 4, 2),
                     tensor(rng, 4, 2), tensor(rng, 2, 2), atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("variant", ["lstm_peephole_proj_no_bias", "gru_reset_before"])
def test_cell_scan_gradcheck_module(engine, variant):
    """A cell's parameters through a scan, dropout in train (the same masks at every
    evaluation: gradcheck_module seeds each one), lengths and reverse."""
    cell = CELLS[variant](2, 3).double()
    rng = np.random.default_rng(2)
    x = tensor(rng, 4, 2, 2)
    state = tuple(tensor(rng, *s.shape) for s in _parts(cell.initial_state(2, x)))

    def fn(x, *state):
        state = state if isinstance(cell.initial_state(1, x), tuple) else state[0]
        final, ys = tg.scan(cell_step(cell, 0.25), state, x, lengths=[4, 1], reverse=True,
                            engine=engine)
        return (ys, *_parts(final))

    assert gradcheck_module(fn, cell, x, *state, atol=1e-7, rtol=1e-6)
