"""tg.scan's contract beyond equal results: the graph released after backward (and each step as
its gradient is made), backward twice with retain_graph, what cannot be compiled (an error
naming it and the user's line, or one warning and the graph engine), bad input, zero steps,
in-place writes between forward and backward."""
import gc
import inspect
import warnings
import weakref

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq.nn import functional as F

from scan_cases import ENGINES, random_tensor as tensor


# ---------------------------------------------------------------- the graph is released

class _Twice(tg.Function):
    """2a, noting a weak reference to the array it saves (to see when it is let go), and at
    each backward how many of those are still alive."""
    saved = []
    alive_at_backward = []

    def forward(ctx, a):
        kept = a * 2.0
        ctx.save(kept)
        _Twice.saved.append(weakref.ref(kept))
        return a * 2.0

    def backward(ctx, g):
        _Twice.alive_at_backward.append(sum(ref() is not None for ref in _Twice.saved))
        return g * (ctx.saved[0] * 0.0 + 2.0)


def _alive():
    gc.collect()
    return sum(ref() is not None for ref in _Twice.saved)


def _twice_scan(engine):
    """(final carry, ys) of a 5-step scan whose step goes through ``_Twice``, its notes cleared."""
    rng = np.random.default_rng(3)
    weight, x, h0 = tensor(rng, 3, 3), tensor(rng, 5, 2, 3), tensor(rng, 2, 3)

    def step(h, x):
        h = tg.tanh(_Twice.apply(F.linear(h, weight)) + x)
        return h, h

    _Twice.saved.clear()
    _Twice.alive_at_backward.clear()
    return tg.scan(step, h0, x, engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_graph_released_after_backward(engine):
    """What each step saved is kept until backward, then let go; a second backward through
    the scan raises; a forward under no_grad keeps nothing."""
    with tg.no_grad():
        _twice_scan(engine)
    assert _alive() == 0
    h, ys = _twice_scan(engine)
    assert _alive() == 5  # one per step
    h.sum().backward()
    assert _alive() == 0
    with pytest.raises(RuntimeError, match="already freed"):
        ys.sum().backward()


@pytest.mark.parametrize("engine", ENGINES)
def test_each_step_released_as_its_gradient_is_made(engine):
    """Backward lets go of a step's saved arrays once that step's gradient is made, as op by
    op, instead of holding every step's until the end (the memory of a long sequence)."""
    h, _ = _twice_scan(engine)
    h.sum().backward()
    assert _Twice.alive_at_backward == [5, 4, 3, 2, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_retain_graph_walks_a_scan_twice(engine):
    """backward(retain_graph=True) then backward again: twice the gradients, as op by op."""
    rng = np.random.default_rng(4)
    weight, x, h0 = tensor(rng, 3, 3), tensor(rng, 4, 2, 3), tensor(rng, 2, 3)

    def step(h, x):
        h = tg.tanh(F.linear(h, weight) + x)
        return h, h * h

    h, ys = tg.scan(step, h0, x, engine=engine)
    loss = h.sum() + ys.sum()
    loss.backward(retain_graph=True)
    once = [t.grad.numpy().copy() for t in (weight, x, h0)]
    loss.backward()
    for t, g in zip((weight, x, h0), once):
        np.testing.assert_allclose(t.grad.numpy(), 2 * g, rtol=1e-12)


# ---------------------------------------------------------------- what cannot be compiled

class _NoBackward(tg.Function):
    name = "no_backward_op"

    def forward(ctx, a):
        return a * 2.0


_W = tg.tensor(np.random.default_rng(5).uniform(-1, 1, (3, 3)), dtype="float64",
               requires_grad=True)


def _if_on_values(h, x):
    h = tg.tanh(F.linear(h, _W) + x)
    if h.sum() > 0:
        h = h * 0.5
    return h, h


def _item(h, x):
    h = tg.tanh(F.linear(h, _W) + x)
    scale = h.sum().item()
    return h * scale, h


def _numpy(h, x):
    h = tg.tanh(F.linear(h, _W) + x)
    scale = float(h.numpy().max())
    return h * scale, h


def _detach(h, x):
    h = tg.tanh(F.linear(h, _W) + x)
    frozen = h.detach()
    return h * frozen, h


def _traced_index(h, x):
    h = tg.tanh(F.linear(h, _W) + x)
    index = tg.argmax(h, axis=-1)
    return h + _W[index], h


def _in_place(h, x):
    h = tg.tanh(F.linear(h, _W) + x)
    h.add_(x)
    return h, h


def _randn(h, x):
    noise = tg.randn(*h.shape, dtype="float64")
    return tg.tanh(F.linear(h, _W) + x + noise), h


def _no_backward(h, x):
    doubled = _NoBackward.apply(h)
    return tg.tanh(F.linear(doubled, _W) + x), h


UNTRACEABLE = [
    (_if_on_values, "item()", "if h.sum() > 0:"),
    (_item, "item()", "scale = h.sum().item()"),
    (_numpy, "numpy()", "scale = float(h.numpy().max())"),
    (_detach, "detach()", "frozen = h.detach()"),
    (_traced_index, "index", "return h + _W[index], h"),
    (_in_place, "in-place add_", "h.add_(x)"),
    (_randn, "random numbers", "noise = tg.randn(*h.shape, dtype=\"float64\")"),
    (_no_backward, "no_backward_op has no backward", "doubled = _NoBackward.apply(h)"),
]


def _line_of(fn, code):
    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, line in enumerate(lines) if code in line)


def _untraceable_inputs():
    rng = np.random.default_rng(6)
    return tensor(rng, 2, 3), tensor(rng, 4, 2, 3)


@pytest.mark.parametrize("step, what, code", UNTRACEABLE, ids=[c[0].__name__ for c in UNTRACEABLE])
def test_untraceable_step_raises_under_compiled(step, what, code):
    """The error names what was read or done, the file, line and code of the user's step."""
    h0, x = _untraceable_inputs()
    with pytest.raises(tg.Untraceable) as error:
        tg.scan(step, h0, x, engine="compiled")
    message = str(error.value)
    assert what in message
    assert f"{__file__}:{_line_of(step, code)} ({code})" in message


@pytest.mark.parametrize("step, what, code", UNTRACEABLE, ids=[c[0].__name__ for c in UNTRACEABLE])
def test_untraceable_step_falls_back_to_graph_under_auto(step, what, code):
    """One ScanFallbackWarning, pointing at the call, naming why; the graph engine's result (the
    random stream where it ends as the graph engine leaves it)."""
    h0, x = _untraceable_inputs()
    tg.rand(1)  # the stream exists before it is seeded
    tg.manual_seed(8)
    expected = tg.scan(step, h0, x, engine="graph")
    after_graph = tg.rand(4).numpy()
    tg.manual_seed(8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        actual = tg.scan(step, h0, x, engine="auto")
    after_auto = tg.rand(4).numpy()
    fallbacks = [w for w in caught if issubclass(w.category, tg.ScanFallbackWarning)]
    assert len(fallbacks) == 1, [str(w.message) for w in caught]
    assert fallbacks[0].filename == __file__ and what in str(fallbacks[0].message)
    for a, e in zip(actual, expected):
        np.testing.assert_array_equal(a.numpy(), e.numpy())
    np.testing.assert_array_equal(after_auto, after_graph)


# ---------------------------------------------------------------- bad input

def _simple_step(h, x):
    return tg.tanh(h + x), h


def _bad_calls():
    h0 = tg.zeros(2, 3, dtype="float64")
    x = tg.ones(4, 2, 3, dtype="float64")
    tuple_init = (h0, h0)
    return [
        ("one tensor", lambda e: tg.scan(lambda h, x: tg.tanh(h + x), h0, x, engine=e),
         TypeError, "must return a pair"),
        ("carry shape", lambda e: tg.scan(lambda h, x: (tg.tanh(h + x)[:, :2], h), h0, x,
                                          engine=e), ValueError, r"\(2, 2\) float64"),
        ("carry dtype", lambda e: tg.scan(lambda h, x: (tg.tanh(h + x).astype("float32"), h),
                                          h0, x, engine=e), ValueError, r"\(2, 3\) float32"),
        ("carry structure", lambda e: tg.scan(lambda c, x: ((c[0],), x), tuple_init, x,
                                              engine=e), ValueError, "structure"),
        ("carry list for tuple", lambda e: tg.scan(lambda c, x: (list(c), x), tuple_init, x,
                                                   engine=e), ValueError, "structure"),
        ("xs disagree on T", lambda e: tg.scan(lambda h, xs: (h, h), h0,
                                               (x, tg.ones(3, 2, 3, dtype="float64")), engine=e),
         ValueError, r"disagree on the number of steps.*\[3, 4\]"),
        ("no xs, no length", lambda e: tg.scan(lambda h, _: (h, h), h0, None, engine=e),
         ValueError, "length="),
        ("length against xs", lambda e: tg.scan(_simple_step, h0, x, length=5, engine=e),
         ValueError, "length=5 but xs has 4 steps"),
        ("negative length", lambda e: tg.scan(lambda h, _: (h, h), h0, length=-1, engine=e),
         ValueError, "non-negative integer"),
        ("lengths shape", lambda e: tg.scan(_simple_step, h0, x, lengths=[[4, 4]], engine=e),
         ValueError, r"one integer per sequence.*shape \(1, 2\)"),
        ("lengths batch", lambda e: tg.scan(_simple_step, h0, x, lengths=[4, 4, 4], engine=e),
         ValueError, r"one integer per sequence \(2"),
        ("lengths floats", lambda e: tg.scan(_simple_step, h0, x, lengths=[4.0, 2.0], engine=e),
         ValueError, "float64"),
        ("negative lengths", lambda e: tg.scan(_simple_step, h0, x, lengths=[4, -1], engine=e),
         ValueError, r"\[0, 4\].*-1"),
        ("lengths past T", lambda e: tg.scan(_simple_step, h0, x, lengths=[5, 1], engine=e),
         ValueError, r"\[0, 4\].*5"),
        ("0-d xs", lambda e: tg.scan(_simple_step, h0, tg.zeros((), dtype="float64"), engine=e),
         ValueError, "leading time axis"),
        ("not tensors", lambda e: tg.scan(_simple_step, h0, [np.zeros((4, 2, 3))], engine=e),
         TypeError, "ndarray"),
        ("step not callable", lambda e: tg.scan(None, h0, x, engine=e), TypeError,
         "step must be a function"),
        ("unknown engine", lambda e: tg.scan(_simple_step, h0, x, engine="fast"),
         ValueError, "engine must be one of 'auto', 'graph', 'compiled', got 'fast'"),
    ]


@pytest.mark.parametrize("engine", ["graph", "compiled", "auto"])
@pytest.mark.parametrize("case", range(len(_bad_calls())), ids=[c[0] for c in _bad_calls()])
def test_bad_input_raises_a_clear_error(engine, case):
    _, call, error, match = _bad_calls()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error", tg.ScanFallbackWarning)  # bad input is not a fallback
        with pytest.raises(error, match=match):
            call(engine)


# ---------------------------------------------------------------- zero steps

@pytest.mark.parametrize("engine", ENGINES + ["auto"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["no_lengths", "lengths"])
def test_zero_steps(engine, with_lengths):
    """T = 0: the final carry is init's values in tensors of their own (the gradient flows
    straight through), ys are empty with the trailing shapes and dtypes of a step's y."""
    rng = np.random.default_rng(9)
    h0, c0 = tensor(rng, 2, 3), tensor(rng, 2, 4)
    weight = tensor(rng, 5, 3)
    x = tensor(rng, 0, 2, 3)

    def step(carry, x):
        h, c = carry
        h = tg.tanh(F.linear(x, weight)[..., :3] + h)
        return (h, c), (h.astype("float32"), tg.concatenate([h, c], axis=-1), None)

    (h, c), (ys32, ys, nothing) = tg.scan(step, (h0, c0), x, engine=engine,
                                          lengths=[0, 0] if with_lengths else None)
    np.testing.assert_array_equal(h.numpy(), h0.numpy())
    np.testing.assert_array_equal(c.numpy(), c0.numpy())
    assert (ys32.shape, ys32.dtype, ys.shape, ys.dtype) == ((0, 2, 3), np.float32, (0, 2, 7),
                                                            np.float64)
    assert nothing is None
    (h.sum() + 2 * c.sum()).backward()
    np.testing.assert_array_equal(h0.grad.numpy(), np.ones((2, 3)))
    np.testing.assert_array_equal(c0.grad.numpy(), np.full((2, 4), 2.0))
    # the final carry is a tensor of its own: written in place, init stays as it was
    before = h0.numpy()
    with tg.no_grad():
        h.add_(1.0)
    np.testing.assert_array_equal(h0.numpy(), before)


# ---------------------------------------------------------------- in-place writes

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("written", ["weight_hh", "weight_ih", "encoder", "xs"])
def test_in_place_write_between_forward_and_backward_raises(engine, written):
    """A closure used in the loop, a weight used only on the inputs (hoisted out of the loop by
    the compiled engine), an encoder output, the inputs: written in place after the forward,
    backward refuses, under every engine."""
    rng = np.random.default_rng(10)
    tensors = {"weight_hh": tensor(rng, 3, 3), "weight_ih": tensor(rng, 3, 3),
               "encoder": tensor(rng, 2, 3), "xs": tensor(rng, 4, 2, 3)}

    def step(h, x):
        h = tg.tanh(F.linear(h, tensors["weight_hh"]) + F.linear(x, tensors["weight_ih"]))
        return h, h * tensors["encoder"] * x

    h, ys = tg.scan(step, tensor(rng, 2, 3), tensors["xs"], engine=engine)
    with tg.no_grad():
        tensors[written].mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        (h.sum() + ys.sum()).backward()


@pytest.mark.parametrize("engine", ENGINES)
def test_in_place_write_to_a_closure_no_op_saved_is_allowed(engine):
    """A bias only added in the step is saved by no op for its gradient: writing it in place
    after the forward changes no gradient, and backward runs, under every engine as op by op."""
    rng = np.random.default_rng(14)
    weight, bias, h0, x = tensor(rng, 3, 3), tensor(rng, 3), tensor(rng, 2, 3), tensor(rng, 4, 2, 3)

    def step(h, x):
        h = tg.tanh(F.linear(h, weight) + x) + bias
        return h, h

    h, ys = tg.scan(step, h0, x, engine=engine)
    before = bias.numpy()
    with tg.no_grad():
        bias.add_(1.0)
    ys.sum().backward()
    np.testing.assert_array_equal(bias.numpy(), before + 1.0)
    assert bias.grad is not None and weight.grad is not None


def test_writing_the_ys_in_place_graph_keeps_the_gradient_compiled_refuses():
    """Op by op, the ys are a stacked copy: written in place after the forward, the final
    carry's gradient is still made, and right. Compiled, the ys are where the replay keeps each
    step's output for backward (so a long sequence holds it once): a write before backward is
    refused at backward, naming the in-place op, as torch.nn.LSTM refuses it for its output."""
    rng = np.random.default_rng(15)
    weight, h0, x = tensor(rng, 3, 3), tensor(rng, 2, 3), tensor(rng, 4, 2, 3)

    def step(h, x):
        h = tg.tanh(F.linear(h, weight) + x)
        return h, h

    grads = []
    for write in (False, True):
        h, ys = tg.scan(step, h0, x, engine="graph")
        if write:
            ys.mul_(2.0)
        h.sum().backward()
        grads.append([t.grad.numpy().copy() for t in (weight, h0, x)])
        weight.grad = h0.grad = x.grad = None
    for written, untouched in zip(*grads[::-1]):
        np.testing.assert_array_equal(written, untouched)
    h, ys = tg.scan(step, h0, x, engine="compiled")
    ys.mul_(2.0)
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation \(mul_\)"):
        h.sum().backward()
