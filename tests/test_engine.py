"""Properties of the autograd engine: accumulation, long graphs, grad mode, graph release,
tg.grad, explicit and multi-output gradients, and the invariants every backward keeps."""
import gc
import weakref

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_seq as tg
from tinygrad_seq import backend


def host(t):
    """A tensor (or raw array) as a NumPy array, whatever its device."""
    if isinstance(t, tg.Tensor):
        return t.numpy()
    return t.get() if hasattr(t, "get") else np.asarray(t)


def leaf(values, device, dtype="float32"):
    return tg.tensor(values, dtype=dtype, device=device, requires_grad=True)


# ---------------------------------------------------------------- accumulation

def test_diamond_graph_gives_8a(device):
    a = leaf([1.0, 2.0, -3.0, 0.5], device)
    b = a + a
    c = b * b
    c.sum().backward()
    np.testing.assert_array_equal(host(a.grad), 8 * host(a))


def test_tensor_reused_100_times_in_one_expression(device):
    a = leaf([1.0, -2.0, 3.0], device)
    total = a * 1.0
    for k in range(2, 101):
        total = total + a * float(k)
    total.sum().backward()
    np.testing.assert_array_equal(host(a.grad), np.full(3, 5050.0, np.float32))


@pytest.mark.parametrize("join", [tg.concatenate, tg.stack])
def test_tensor_repeated_100_times_as_inputs_of_one_node(device, join):
    a = leaf([1.0, -2.0, 3.0], device)
    join([a] * 100).sum().backward()
    np.testing.assert_array_equal(host(a.grad), np.full(3, 100.0, np.float32))


def test_10000_op_chain_product(device):
    x = leaf([1.0, 2.0], device, "float64")
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    expected = 1.0001 ** 10_000
    np.testing.assert_allclose(host(x.grad), [expected, expected], rtol=1e-10)
    np.testing.assert_allclose(host(y), host(x) * expected, rtol=1e-10)


def test_10000_op_chain_of_additions(device):
    x = leaf([1.0, 2.0, 3.0], device)
    y = x
    for _ in range(10_000):
        y = y + 0.0
    (y * 2.0).sum().backward()
    np.testing.assert_array_equal(host(x.grad), [2.0, 2.0, 2.0])


# ---------------------------------------------------------------- grad mode

def test_no_grad_records_nothing(device):
    a = leaf([1.0, 2.0], device)
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = a * 2
    assert tg.is_grad_enabled()
    assert y.requires_grad is False
    assert y._ctx is None
    np.testing.assert_array_equal(host(y), [2.0, 4.0])


def test_enable_grad_inside_no_grad_records_again(device):
    a = leaf([1.0, 2.0], device)
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            y = a * 3
        assert not tg.is_grad_enabled()
        z = a * 3
    assert y.requires_grad and y._ctx is not None
    assert not z.requires_grad and z._ctx is None
    y.sum().backward()
    np.testing.assert_array_equal(host(a.grad), [3.0, 3.0])


def test_grad_modes_as_decorators(device):
    a = leaf([1.0, 2.0], device)

    @tg.no_grad()
    def frozen(x):
        return x * 2

    @tg.enable_grad()
    def tracked(x):
        return x * 2

    y = frozen(a)
    assert not y.requires_grad and y._ctx is None
    assert tg.is_grad_enabled()
    with tg.no_grad():
        z = tracked(a)
        assert not tg.is_grad_enabled()
    assert z.requires_grad and z._ctx is not None
    assert frozen.__name__ == "frozen"


def test_grad_mode_restored_after_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()


# ---------------------------------------------------------------- detach

def test_detach_cuts_gradient_exactly(device):
    a = leaf([1.5, -2.0, 3.0], device)
    y = a * a.detach()
    y.sum().backward()
    np.testing.assert_array_equal(host(a.grad), host(a.detach()))

    b = leaf([1.0, 2.0], device)
    (b + (b * 7.0).detach()).sum().backward()
    np.testing.assert_array_equal(host(b.grad), [1.0, 1.0])


def test_detached_result_cannot_be_backpropagated(device):
    a = leaf([1.0, 2.0], device)
    d = a.detach()
    assert not d.requires_grad and d._ctx is None
    out = (d * 3).sum()
    assert not out.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.backward()
    assert a.grad is None


# ---------------------------------------------------------------- graph release

def _loss_and_weakrefs(a):
    """loss = sum((2a)^2), with weak references to the node that made 2a and to its data (which
    the square's node saved for its backward)."""
    hidden = a * 2.0
    squared = hidden * hidden
    loss = squared.sum()
    return loss, weakref.ref(hidden._ctx), weakref.ref(hidden.data)


def test_the_graph_keeps_no_intermediate_tensor():
    """A node keeps its inputs' nodes, shapes and dtypes, not the tensors: an intermediate's
    data lives on only where some backward saved it."""
    a = leaf([1.0, 2.0, 3.0], "cpu")
    hidden = a * 2.0
    unsaved = (hidden + 1.0) * 3.0          # add saves nothing: hidden's data may go
    data, tensor = weakref.ref(hidden.data), weakref.ref(hidden)
    del hidden
    assert tensor() is None and data() is None
    unsaved.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [6.0, 6.0, 6.0])


def test_graph_released_after_backward(device):
    a = leaf([1.0, 2.0, 3.0], device)
    loss, node, data = _loss_and_weakrefs(a)
    assert node() is not None and data() is not None
    loss.backward()
    assert node() is None, "node kept alive by a released graph (refcount)"
    assert data() is None, "saved array kept alive by a released graph"
    gc.collect()
    assert data() is None
    np.testing.assert_array_equal(host(a.grad), 8 * host(a))


def test_retain_graph_keeps_graph_and_second_backward_doubles(device):
    a = leaf([1.0, 2.0, 3.0], device)
    loss, node, data = _loss_and_weakrefs(a)
    loss.backward(retain_graph=True)
    gc.collect()
    assert node() is not None and data() is not None
    first = host(a.grad)
    loss.backward()
    np.testing.assert_array_equal(host(a.grad), 2 * first)
    assert node() is None and data() is None


def test_backward_twice_through_freed_graph_raises(device):
    a = leaf([1.0, 2.0], device)
    loss = (a * a).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        loss.backward()


# ---------------------------------------------------------------- .grad and tg.grad

def test_gradients_accumulate_across_backward_calls(device):
    a = leaf([1.0, 2.0], device)
    (a * 3.0).sum().backward()
    (a * a).sum().backward()
    np.testing.assert_array_equal(host(a.grad), 3.0 + 2 * host(a))


def test_tg_grad_leaves_dot_grad_untouched(device):
    a = leaf([1.0, 2.0, 3.0], device)
    b = leaf([4.0, 5.0, 6.0], device)
    loss = (a * b).sum()
    ga, gb = tg.grad(loss, [a, b])
    np.testing.assert_array_equal(host(ga), host(b))
    np.testing.assert_array_equal(host(gb), host(a))
    assert a.grad is None and b.grad is None
    assert not ga.requires_grad and ga.device == a.device


def test_tg_grad_for_non_leaf_input(device):
    a = leaf([1.0, 2.0, 3.0], device)
    hidden = a * 2.0
    loss = (hidden * hidden).sum()
    gh, ga = tg.grad(loss, [hidden, a])
    np.testing.assert_array_equal(host(gh), 2 * host(hidden))
    np.testing.assert_array_equal(host(ga), 8 * host(a))
    assert a.grad is None and hidden.grad is None


def test_tg_grad_with_grad_outputs(device):
    a = leaf([[1.0, 2.0], [3.0, 4.0]], device)
    y = a * 3.0
    upstream = tg.tensor([[1.0, -1.0], [0.5, 2.0]], device=device)
    (ga,) = tg.grad(y, [a], grad_outputs=[upstream])
    np.testing.assert_array_equal(host(ga), 3 * host(upstream))
    assert a.grad is None


def test_tg_grad_allow_unused(device):
    a = leaf([1.0, 2.0], device)
    unused = leaf([5.0], device)
    loss = (a * a).sum()
    with pytest.raises(ValueError, match="allow_unused"):
        tg.grad(loss, [a, unused])
    # The refused call left the graph whole: the retry walks it.
    ga, gu = tg.grad(loss, [a, unused], allow_unused=True)
    np.testing.assert_array_equal(host(ga), 2 * host(a))
    assert gu is None
    assert a.grad is None and unused.grad is None


def test_tg_grad_frees_graph_unless_retained(device):
    a = leaf([1.0, 2.0], device)
    loss = (a * a).sum()
    tg.grad(loss, [a])
    with pytest.raises(RuntimeError, match="retain_graph"):
        tg.grad(loss, [a])


# ---------------------------------------------------------------- explicit and partial gradients

def test_backward_with_explicit_gradient(device):
    a = leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device)
    y = a * 2.0
    upstream = np.array([[1.0, 0.0, -1.0], [2.0, 0.5, 3.0]], np.float32)
    y.backward(tg.tensor(upstream, device=device))
    np.testing.assert_array_equal(host(a.grad), 2 * upstream)


def test_backward_with_explicit_gradient_as_array():
    a = leaf([1.0, 2.0], "cpu")
    (a * a).backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 12.0])
    assert a.grad.dtype == np.float32


@pytest.mark.parametrize("pieces, used, expected", [
    (lambda a: a.split(2), 1, [0, 0, 1, 1, 0, 0]),
    (lambda a: a.split([1, 3, 2]), 2, [0, 0, 0, 0, 1, 1]),
    (lambda a: a.chunk(3), 0, [1, 1, 0, 0, 0, 0]),
    (lambda a: a.unbind(0), 4, [0, 0, 0, 0, 1, 0]),
])
def test_unused_outputs_of_multi_output_ops_get_zero_gradient(device, pieces, used, expected):
    a = leaf([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], device)
    outputs = pieces(a)
    outputs[used].sum().backward()
    np.testing.assert_array_equal(host(a.grad), np.array(expected, np.float32))
    assert a.grad.shape == a.shape and a.grad.dtype == a.dtype


def test_two_outputs_of_one_node_both_contribute(device):
    a = leaf([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device)
    first, _, last = a.unbind(0)
    (first * 2.0 + last * 3.0).sum().backward()
    np.testing.assert_array_equal(host(a.grad), [[2.0, 2.0], [0.0, 0.0], [3.0, 3.0]])


# ---------------------------------------------------------------- invariants after backward

def _check_invariants(device, inputs, copies, grads, extra_arrays=()):
    """Inputs unchanged, each gradient of its input's shape and dtype, no memory shared."""
    xp = backend.xp_of(device)
    for x, before in zip(inputs, copies):
        np.testing.assert_array_equal(host(x), before)
    for x, g in zip(inputs, grads):
        assert g is not None
        assert g.shape == x.shape
        assert g.dtype == x.dtype
        assert g.device == x.device
    arrays = [g.data for g in grads]
    for i, g in enumerate(arrays):
        for other in arrays[i + 1:]:
            assert not xp.shares_memory(g, other), "two gradients share memory"
        for x in list(inputs) + list(extra_arrays):
            data = x.data if isinstance(x, tg.Tensor) else x
            assert not xp.shares_memory(g, data), "a gradient shares memory with an input"


_values = st.floats(-10, 10, width=32, allow_nan=False)


def _arrays(shape):
    return hnp.arrays(np.float32, shape, elements=_values)


@st.composite
def _broadcast_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
    return draw(_arrays(shapes[0])), draw(_arrays(shapes[1]))


def test_invariants_add_with_explicit_gradient(device):
    @given(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4).flatmap(
        lambda s: st.tuples(_arrays(s), _arrays(s), _arrays(s))))
    def check(values):
        a, b = leaf(values[0], device), leaf(values[1], device)
        upstream = tg.tensor(values[2], device=device)
        copies = [host(a), host(b)]
        (a + b).backward(upstream)
        _check_invariants(device, [a, b], copies, [a.grad, b.grad], extra_arrays=[upstream])
        np.testing.assert_array_equal(host(a.grad), values[2])
        np.testing.assert_array_equal(host(b.grad), values[2])

    check()


def test_invariants_scalar_add_shares_seed(device):
    a, b = leaf(1.0, device), leaf(2.0, device)
    (a + b).backward()
    _check_invariants(device, [a, b], [np.float32(1), np.float32(2)], [a.grad, b.grad])


@st.composite
def _shape_and_permutation(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    axes = draw(st.permutations(range(len(shape))))
    return draw(_arrays(shape)), tuple(axes)


def test_invariants_reshape_transpose_chain(device):
    @given(_shape_and_permutation())
    def check(case):
        values, axes = case
        a = leaf(values, device)
        copy = host(a)
        y = a.reshape(-1).reshape(values.shape).permute(*axes).transpose()
        y = y.reshape(-1) + a.transpose().reshape(-1)
        y.sum().backward()
        _check_invariants(device, [a], [copy], [a.grad])
        np.testing.assert_array_equal(host(a.grad), np.full(values.shape, 2.0, np.float32))

    check()


def test_tg_grad_results_share_no_memory(device):
    @given(_broadcast_pair())
    def check(pair):
        a, b = (leaf(v, device) for v in pair)
        copies = [host(a), host(b)]
        hidden = a + b
        grads = tg.grad((hidden + a).sum(), [a, b, hidden])
        _check_invariants(device, [a, b], copies, grads[:2], extra_arrays=[hidden])
        xp = backend.xp_of(device)
        assert not xp.shares_memory(grads[2].data, grads[0].data)
        assert not xp.shares_memory(grads[2].data, grads[1].data)
        assert a.grad is None and b.grad is None

    check()


def test_tg_grad_for_an_input_listed_twice(device):
    a = leaf([1.0, 2.0], device)
    loss = (a * a).sum()  # a's gradient is accumulated from two contributions
    first, second = tg.grad(loss, [a, a])
    np.testing.assert_array_equal(host(first), [2.0, 4.0])
    np.testing.assert_array_equal(host(second), [2.0, 4.0])
    assert not backend.xp_of(device).shares_memory(first.data, second.data)


# ---------------------------------------------------------------- dtypes

def test_float64_stays_float64(device):
    a = leaf([[0.5, -1.0], [2.0, 0.25]], device, "float64")
    b = leaf([[1.0, 2.0], [3.0, 4.0]], device, "float64")
    steps = [a * 2.0, a + 1, 2 - a, a / 3.0, a ** 2, a.exp(), a.tanh(), a.sigmoid(), a @ b,
             a.softmax(-1), a.log_softmax(-1), a.mean(0), a.sum(), a.logsumexp(1), a.T, a.abs()]
    for y in steps:
        assert y.dtype == np.float64, y
    total = steps[0].sum()
    for y in steps[1:]:
        total = total + y.sum()
    assert total.dtype == np.float64
    total.backward()
    assert a.grad.dtype == np.float64 and b.grad.dtype == np.float64


def test_mixed_precision_gives_each_input_its_own_dtype(device):
    a32 = leaf([1.0, 2.0], device, "float32")
    b64 = leaf([3.0, 4.0], device, "float64")
    y = a32 * b64
    assert y.dtype == np.float64
    y.sum().backward()
    assert a32.grad.dtype == np.float32 and b64.grad.dtype == np.float64
    np.testing.assert_array_equal(host(a32.grad), [3.0, 4.0])
    np.testing.assert_array_equal(host(b64.grad), [1.0, 2.0])


# ---------------------------------------------------------------- custom Functions

class Softplus(tg.Function):
    def forward(ctx, x, beta=1.0):
        ctx.save(x)
        ctx.beta = beta
        return ctx.xp.logaddexp(0, beta * x) / beta

    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (1 + ctx.xp.exp(-ctx.beta * x))


def _softplus(x, beta=1.0):
    return np.logaddexp(0, beta * x) / beta


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_custom_function(device):
    values = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    x = leaf(values, device, "float64")
    y = Softplus.apply(x)
    assert y.requires_grad and isinstance(y._ctx, Softplus)
    np.testing.assert_allclose(host(y), _softplus(values), rtol=1e-12)
    y.sum().backward()
    np.testing.assert_allclose(host(x.grad), _sigmoid(values), rtol=1e-12)


def test_custom_function_with_keyword_option(device):
    values = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    x = leaf(values, device, "float64")
    y = Softplus.apply(x, beta=2.0)
    np.testing.assert_allclose(host(y), _softplus(values, 2.0), rtol=1e-12)
    (y * 3.0).sum().backward()
    np.testing.assert_allclose(host(x.grad), 3 * _sigmoid(2 * values), rtol=1e-12)


def test_custom_function_matches_finite_differences():
    values = np.array([-2.0, -0.3, 0.7, 1.9])
    x = leaf(values, "cpu", "float64")
    (gx,) = tg.grad(Softplus.apply(x, beta=1.5).sum(), [x])
    eps = 1e-6
    numeric = (_softplus(values + eps, 1.5) - _softplus(values - eps, 1.5)) / (2 * eps)
    np.testing.assert_allclose(gx.numpy(), numeric, rtol=1e-6)


def test_custom_function_without_grad_records_nothing(device):
    x = tg.tensor([1.0, 2.0], device=device)
    y = Softplus.apply(x)
    assert not y.requires_grad and y._ctx is None


class SplitHalves(tg.Function):
    """A custom op with two outputs and two inputs, one of them broadcast."""

    def forward(ctx, x, bias):
        n = x.shape[0] // 2
        return x[:n] + bias, x[n:] * 2

    def backward(ctx, g_first, g_second):
        xp = ctx.xp
        first = g_first if g_first is not None else xp.zeros_like(g_second)
        second = g_second * 2 if g_second is not None else xp.zeros_like(g_first)
        return xp.concatenate([first, second]), first  # bias grad broadcast: engine sums it


def test_custom_multi_output_function(device):
    x = leaf([1.0, 2.0, 3.0, 4.0], device)
    bias = leaf([10.0], device)
    first, second = SplitHalves.apply(x, bias)
    np.testing.assert_array_equal(host(first), [11.0, 12.0])
    np.testing.assert_array_equal(host(second), [6.0, 8.0])
    (first.sum() + second.sum()).backward()
    np.testing.assert_array_equal(host(x.grad), [1.0, 1.0, 2.0, 2.0])
    np.testing.assert_array_equal(host(bias.grad), [2.0])
