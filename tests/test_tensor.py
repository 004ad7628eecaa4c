"""Tensor creation, properties, host conversion, random streams, conversion and operators."""
import math

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import backend


def canonical(device):
    return backend.canonical_device(device)


# ---------------------------------------------------------------- tg.tensor

@pytest.mark.parametrize("data, dtype, shape", [
    ([1.0, 2.0, 3.0], np.float32, (3,)),
    ([[1, 2], [3, 4]], np.int64, (2, 2)),
    ([True, False], np.bool_, (2,)),
    (3.5, np.float32, ()),
    (7, np.int64, ()),
    (True, np.bool_, ()),
    (np.array([1.0, 2.0], dtype=np.float64), np.float32, (2,)),
    (np.array([1.0, 2.0], dtype=np.float16), np.float32, (2,)),
    (np.array([[1, 2, 3]], dtype=np.int32), np.int64, (1, 3)),
    (np.array([1, 2], dtype=np.uint8), np.int64, (2,)),
    (np.array([True]), np.bool_, (1,)),
    (np.float64(2.5), np.float32, ()),
])
def test_tensor_default_dtypes(device, data, dtype, shape):
    t = tg.tensor(data, device=device)
    assert t.dtype == dtype
    assert t.shape == shape
    assert t.device == canonical(device)
    np.testing.assert_array_equal(t.numpy(), np.asarray(data).astype(dtype))


def test_tensor_float64_on_request(device):
    values = np.array([0.1, 1e-300, 1e300])
    t = tg.tensor(values, dtype="float64", device=device)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.numpy(), values)
    assert tg.tensor([1, 2], dtype=tg.float64, device=device).dtype == np.float64
    assert tg.tensor([1.7, 2.2], dtype="int32", device=device).tolist() == [1, 2]


def test_tensor_copies_its_source(device):
    source = np.array([1.0, 2.0], dtype=np.float32)
    t = tg.tensor(source, device=device)
    source[0] = 99.0
    assert t.tolist() == [1.0, 2.0]
    u = tg.tensor(t)
    assert u.tolist() == [1.0, 2.0] and u is not t and not u.requires_grad


def test_tensor_requires_grad_flag(device):
    t = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None and t.grad_fn is None
    assert not tg.tensor([1.0], device=device).requires_grad


# ---------------------------------------------------------------- values a dtype cannot hold

INT32 = r"int32, whose values lie in \[-2147483648, 2147483647\]"
INT64 = r"int64, whose values lie in \[-9223372036854775808, 9223372036854775807\]"


@pytest.mark.parametrize("data, dtype, message", [
    ([2**40], "int32", rf"value 1099511627776 is out of range for {INT32}"),
    ([1, -2**31 - 1], "int32", rf"value -2147483649 is out of range for {INT32}"),
    (np.array([2**40]), "int32", rf"value 1099511627776 is out of range for {INT32}"),
    ([2**63], None, rf"value 9223372036854775808 is out of range for {INT64}"),
    ([[1], [2**70]], None, rf"value 1180591620717411303424 is out of range for {INT64}"),
    ([2**64], "int64", rf"value 18446744073709551616 is out of range for {INT64}"),
    ([3e9], "int32", rf"value 3000000000.0 is out of range for {INT32}"),
    ([2147483647.5], "int32", rf"value 2147483647.5 is out of range for {INT32}"),
    ([1e19], "int64", rf"value 1e\+19 is out of range for {INT64}"),
    ([-1], "uint8", r"value -1 is out of range for uint8, whose values lie in \[0, 255\]"),
])
def test_tensor_refuses_values_out_of_an_integer_dtypes_range(device, data, dtype, message):
    """Overflow raises, as in PyTorch (NumPy's cast would wrap: 2**40 became 0 in int32)."""
    with pytest.raises(OverflowError, match="^tensor: " + message + "$"):
        tg.tensor(data, dtype=dtype, device=device)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_tensor_refuses_non_finite_floats_in_integer_dtypes(device, value):
    with pytest.raises(ValueError, match=f"tensor: cannot convert {value} to int64: NaN and infinity"):
        tg.tensor([1.0, value], dtype="int64", device=device)
    with pytest.raises(ValueError, match=f"full: cannot convert {value} to int32"):
        tg.full((2,), value, dtype="int32", device=device)


def test_conversions_that_keep_their_values_or_truncate_as_torch(device):
    """Floats in range truncate toward zero; bools become 0 and 1; integers beyond 64 bits into
    a float dtype are rounded."""
    assert tg.tensor([2.7, -2.7, 0.5], dtype="int64", device=device).tolist() == [2, -2, 0]
    assert tg.tensor([2147483647.0, -2147483648.0], dtype="int32", device=device).tolist() == \
        [2147483647, -2147483648]
    assert tg.tensor([True, False], dtype="int32", device=device).tolist() == [1, 0]
    assert tg.tensor([2**63 - 1, -2**63], device=device).tolist() == [2**63 - 1, -2**63]
    assert tg.tensor([2**70], dtype="float64", device=device).item() == float(2**70)
    assert tg.tensor([2**70, 0.5], device=device).dtype == np.float32
    assert tg.tensor([2**70, 0], dtype="bool", device=device).tolist() == [True, False]
    int64 = tg.tensor([2**40, 5], device=device)
    with pytest.raises(OverflowError, match="int32"):
        tg.tensor(int64, dtype="int32")
    assert tg.tensor(int64[1:], dtype="int32").tolist() == [5]
    with pytest.raises(OverflowError, match=f"full: value 1099511627776 is out of range for {INT32}"):
        tg.full((2,), 2**40, dtype="int32", device=device)


@pytest.mark.parametrize("data, dtype", [
    ([2**40], "int32"), ([2**31 - 1], "int32"), ([-2**31 - 1], "int32"), ([2**63], "int64"),
    ([2.7, -2.7], "int64"), ([2147483647.0], "int32"), ([2147483647.5], "int32"),
    ([-2147483648.5], "int32"), ([1e19], "int64"), ([float("nan")], "int64"),
    ([float("inf")], "int32"), ([True, False], "int32"), ([1e300], "float32"), ([2**70], "float32"),
])
def test_conversions_raise_where_torch_raises(data, dtype, torch):
    """(Not for uint8, where PyTorch wraps -1 to 255 and we raise.)"""
    try:
        expected = torch.tensor(data, dtype=getattr(torch, dtype)).tolist()
    except (RuntimeError, OverflowError, ValueError):
        expected = None
    if expected is None:
        with pytest.raises((OverflowError, ValueError)):
            tg.tensor(data, dtype=dtype)
    else:
        np.testing.assert_array_equal(tg.tensor(data, dtype=dtype).numpy(), np.array(expected, dtype=dtype))


# ---------------------------------------------------------------- factories

@pytest.mark.parametrize("make, error, message", [
    (lambda: tg.zeros(2.5), TypeError, "zeros: a size must be an integer or a sequence of integers, got 2.5"),
    (lambda: tg.zeros(None), TypeError, "zeros: a size must be an integer or a sequence of integers, got None"),
    (lambda: tg.ones(2, 2.5), TypeError, r"ones: a shape holds integers, got 2.5 in \(2, 2.5\)"),
    (lambda: tg.ones([2, 3.0]), TypeError, r"ones: a shape holds integers, got 3.0 in \(2, 3.0\)"),
    (lambda: tg.full(2.5, 1.0), TypeError, "full: a size must be an integer .*, got 2.5"),
    (lambda: tg.full((2,), "a"), TypeError, "full: fill_value must be a number, got 'a'"),
    (lambda: tg.rand((2, 1.5)), TypeError, r"rand: a shape holds integers, got 1.5"),
    (lambda: tg.randn(True), TypeError, "randn: a size must be an integer .*, got True"),
    (lambda: tg.eye(2.5), TypeError, "eye: a size must be an integer .*, got 2.5"),
    (lambda: tg.eye(2, -1), ValueError, r"eye: shape \(2, -1\) has a negative dimension"),
    (lambda: tg.zeros(-1), ValueError, r"zeros: shape \(-1,\) has a negative dimension"),
    (lambda: tg.full((2, -3), 1.0), ValueError, r"full: shape \(2, -3\) has a negative dimension"),
    (lambda: tg.randn(3, -3), ValueError, r"randn: shape \(3, -3\) has a negative dimension"),
    (lambda: tg.zeros_like(tg.zeros(2), dtype="int32").reshape(2.5), TypeError, "reshape: .*2.5"),
])
def test_factories_name_themselves_and_the_bad_size(make, error, message):
    with pytest.raises(error, match="^" + message):
        make()


def test_numpy_integers_are_sizes():
    assert tg.zeros(np.int64(3)).shape == (3,)
    assert tg.ones((np.int32(2), 3)).shape == (2, 3)


# ---------------------------------------------------------------- factories

def test_factories(device):
    dev = canonical(device)
    checks = [
        (tg.zeros(2, 3, device=device), (2, 3), np.float32, 0.0),
        (tg.zeros((2, 3), device=device), (2, 3), np.float32, 0.0),
        (tg.ones(4, device=device, dtype="float64"), (4,), np.float64, 1.0),
        (tg.full((2, 2), 7.0, device=device), (2, 2), np.float32, 7.0),
        (tg.full(3, 2, dtype="int64", device=device), (3,), np.int64, 2),
        (tg.zeros((), device=device), (), np.float32, 0.0),
    ]
    for t, shape, dtype, value in checks:
        assert t.shape == shape and t.dtype == dtype and t.device == dev
        assert (t.numpy() == value).all()
    np.testing.assert_array_equal(tg.arange(5, device=device).numpy(), np.arange(5))
    assert tg.arange(5, device=device).dtype == np.int64
    r = tg.arange(0, 1, 0.25, device=device)
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r.numpy(), [0.0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(tg.arange(10, 0, -3, device=device).numpy(), [10, 7, 4, 1])
    np.testing.assert_array_equal(tg.eye(3, device=device).numpy(), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(tg.eye(2, 3, device=device).numpy(), np.eye(2, 3, dtype=np.float32))
    u = tg.rand(100, device=device)
    assert u.shape == (100,) and u.dtype == np.float32
    assert (u.numpy() >= 0).all() and (u.numpy() < 1).all()
    n = tg.randn(2, 500, dtype="float64", device=device)
    assert n.shape == (2, 500) and n.dtype == np.float64
    assert abs(n.numpy().mean()) < 0.2 and 0.8 < n.numpy().std() < 1.2
    w = tg.zeros(3, device=device, requires_grad=True)
    assert w.requires_grad and w.is_leaf


def test_like_factories(device):
    t = tg.tensor([[1.0, 2.0, 3.0]], dtype="float64", device=device)
    for like, value in [(tg.zeros_like(t), 0.0), (tg.ones_like(t), 1.0),
                        (tg.full_like(t, 4.5), 4.5)]:
        assert like.shape == t.shape and like.dtype == t.dtype and like.device == t.device
        assert (like.numpy() == value).all()
    for like in (tg.rand_like(t), tg.randn_like(t)):
        assert like.shape == t.shape and like.dtype == t.dtype and like.device == t.device
    assert tg.zeros_like(t, dtype="int64").dtype == np.int64
    assert tg.ones_like(t, requires_grad=True).requires_grad


def test_properties(device):
    t = tg.zeros(2, 3, 4, device=device)
    assert t.shape == (2, 3, 4) and isinstance(t.shape, tuple)
    assert t.ndim == 3 and t.size == 24 and isinstance(t.size, int)
    assert t.dtype == np.float32
    assert t.device == canonical(device)
    assert tg.tensor(1.0, device=device).ndim == 0


# ---------------------------------------------------------------- host conversion

def test_item(device):
    assert tg.tensor(2.5, device=device).item() == 2.5
    assert isinstance(tg.tensor([[3]], device=device).item(), int)
    assert tg.tensor([True], device=device).item() is True


def test_numpy_returns_a_copy(device):
    t = tg.tensor([1.0, 2.0], device=device)
    a = t.numpy()
    assert isinstance(a, np.ndarray)
    a[0] = 99.0
    assert t.tolist() == [1.0, 2.0]
    assert t.numpy() is not t.numpy()


def test_tolist(device):
    assert tg.tensor([[1, 2], [3, 4]], device=device).tolist() == [[1, 2], [3, 4]]
    assert tg.tensor(1.5, device=device).tolist() == 1.5


def test_numpy_array_protocol_on_cpu():
    t = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(np.asarray(t, dtype=np.float64), a)
    # np.array copies by default: writing to the result must not change the (immutable) tensor.
    b = np.array(t)
    b[0, 0] = 99.0
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    # np.asarray shares memory, read-only: it cannot write into the tensor either.
    with pytest.raises(ValueError, match="read-only"):
        np.asarray(t)[0, 0] = 99.0
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_repr_shows_data_device_and_dtype(device):
    text = repr(tg.tensor([1.5, -2.0], device=device))
    assert "1.5" in text and "-2." in text
    assert canonical(device) in text
    assert "float32" in text
    text = repr(tg.tensor([1, 2], dtype="int64", device=device))
    assert "int64" in text
    assert "requires_grad=True" in repr(tg.tensor([1.0], device=device, requires_grad=True))


# ---------------------------------------------------------------- random streams

def test_manual_seed_makes_random_streams_reproducible(device):
    def draw():
        x = tg.ones(200, device=device)
        return (tg.rand(5, device=device).numpy(), tg.randn(2, 3, device=device).numpy(),
                tg.dropout(x, 0.5).numpy(), tg.randn(4, dtype="float64", device=device).numpy())

    tg.manual_seed(1234)
    first = draw()
    tg.manual_seed(1234)
    second = draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    tg.manual_seed(4321)
    third = draw()
    for a, b in zip(first, third):
        assert not np.array_equal(a, b)
    mask = first[2]
    assert set(np.unique(mask)) <= {0.0, 2.0}
    assert 0 < (mask == 0).sum() < 200


def test_manual_seed_rejects_bad_seeds():
    for seed in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="non-negative integer"):
            tg.manual_seed(seed)


# ---------------------------------------------------------------- conversion

def test_to_dtype_keeps_graph(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.to(dtype="float64")
    assert y.dtype == np.float64 and y.device == x.device and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert x.to(dtype="float32") is x  # nothing to convert: the same tensor, as PyTorch
    assert x.double().dtype == np.float64 and x.float().dtype == np.float32
    assert tg.tensor([1.7, -2.7], device=device).long().tolist() == [1, -2]


def test_to_cpu(device):
    x = tg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x.to("cpu")
    assert y.device == "cpu"
    np.testing.assert_array_equal(y.numpy(), [1.0, 2.0])
    (y * 3.0).sum().backward()
    assert x.grad.device == x.device
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert x.cpu().device == "cpu"


# ---------------------------------------------------------------- operators

def _grad_of(fn, values, device):
    x = tg.tensor(values, dtype="float64", device=device, requires_grad=True)
    y = fn(x)
    y.sum().backward()
    return y.numpy(), x.grad.numpy()


X = np.array([0.5, 1.0, 2.0, 3.0])
LN2 = math.log(2.0)

OPERATORS = {
    "x + 2": (lambda x: x + 2, X + 2, np.ones(4)),
    "2 + x": (lambda x: 2 + x, 2 + X, np.ones(4)),
    "x - 2": (lambda x: x - 2, X - 2, np.ones(4)),
    "2 - x": (lambda x: 2 - x, 2 - X, -np.ones(4)),
    "x * 2": (lambda x: x * 2, X * 2, np.full(4, 2.0)),
    "2 * x": (lambda x: 2 * x, 2 * X, np.full(4, 2.0)),
    "x / 2": (lambda x: x / 2, X / 2, np.full(4, 0.5)),
    "2 / x": (lambda x: 2 / x, 2 / X, -2 / X ** 2),
    "x ** 2": (lambda x: x ** 2, X ** 2, 2 * X),
    "x ** 0.5": (lambda x: x ** 0.5, X ** 0.5, 0.5 / np.sqrt(X)),
    "x ** -1": (lambda x: x ** -1, 1 / X, -1 / X ** 2),
    "2 ** x": (lambda x: 2 ** x, 2 ** X, 2 ** X * LN2),
    "x ** x": (lambda x: x ** x, X ** X, X ** X * (np.log(X) + 1)),
    "-x": (lambda x: -x, -X, -np.ones(4)),
    "abs(-x)": (lambda x: abs(-x), X, np.ones(4)),
    "np.float64(2) - x": (lambda x: np.float64(2) - x, 2 - X, -np.ones(4)),
    "x + x": (lambda x: x + x, 2 * X, np.full(4, 2.0)),
}


@pytest.mark.parametrize("name", list(OPERATORS))
def test_python_operators(device, name):
    fn, expected, expected_grad = OPERATORS[name]
    value, grad = _grad_of(fn, X, device)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)


def test_operators_keep_float32_with_python_scalars(device):
    x = tg.tensor([1.0, 2.0], device=device)
    for y in (x + 1, 1 + x, x - 1.5, 2 - x, x * 2.5, 2 / x, x ** 2, 2 ** x, x / 3):
        assert y.dtype == np.float32


def test_matmul_operator(device):
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    b = tg.tensor([[5.0], [6.0]], device=device, requires_grad=True)
    y = a @ b
    np.testing.assert_array_equal(y.numpy(), [[17.0], [39.0]])
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[5.0, 6.0], [5.0, 6.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [[4.0], [6.0]])


def test_comparisons_give_bool_tensors_without_grad(device):
    x = tg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = tg.tensor([3.0, 2.0, 1.0], device=device)
    cases = {
        "<": (x < 2, [True, False, False]),
        "<=": (x <= 2, [True, True, False]),
        ">": (x > y, [False, False, True]),
        ">=": (x >= y, [False, True, True]),
        "==": (x == y, [False, True, False]),
        "!=": (x != 2, [True, False, True]),
        "reflected": (2 < x, [False, False, True]),
    }
    for name, (result, expected) in cases.items():
        assert result.dtype == np.bool_, name
        assert not result.requires_grad and result._ctx is None, name
        assert result.tolist() == expected, name


def test_len_and_iteration(device):
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device, requires_grad=True)
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and all(isinstance(r, tg.Tensor) for r in rows)
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    (rows[0] * 1.0 + rows[2] * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]])
    scalar = tg.tensor(1.0, device=device)
    with pytest.raises(TypeError, match="0-d"):
        len(scalar)
    with pytest.raises(TypeError, match="0-d"):
        iter(scalar)


def test_scalar_conversions(device):
    assert float(tg.tensor([2.5], device=device)) == 2.5
    assert int(tg.tensor(3.0, device=device)) == 3
    assert bool(tg.tensor(1.0, device=device)) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tg.tensor([1.0, 2.0], device=device))


def test_tensors_are_immutable(device):
    x = tg.tensor([1.0, 2.0], device=device)
    with pytest.raises(TypeError, match="immutable"):
        x[0] = 3.0


def test_python_floats_and_division_with_integer_tensors_give_float32(device):
    ints = tg.tensor([1, 2, 3], device=device)
    assert (ints * 2).dtype == tg.int64
    for result in (ints + 1.5, 1.5 - ints, ints * 0.5, ints / 2, 3 / ints,
                   tg.where(ints > 1, ints, 0.5)):
        assert result.dtype == tg.float32
    np.testing.assert_array_equal((ints / 2).numpy(), [0.5, 1.0, 1.5])   # halves are exact
    assert (tg.tensor([1.0], dtype="float64", device=device) * 2.5).dtype == tg.float64
