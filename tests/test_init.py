"""Initialisers: statistics within binomial/normal tolerances, bounds, orthogonality (per gate
block too), gains, errors, reproducibility, in-place filling on every device."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq import backend
from tinygrad_seq.nn import Module, Parameter, init

Z = 5.0  # tolerances are Z standard errors: a correct initialiser essentially never fails


def param(*shape, dtype="float32", device="cpu"):
    """A zero parameter of ``dtype``, cast the way models are (``Module.to``): wrapping a float64
    tensor in Parameter downcasts it to float32 (reported, see test_module.py)."""
    holder = Module()
    holder.weight = Parameter(tg.zeros(*shape, device=device))
    holder.to(dtype=dtype)
    assert holder.weight.dtype == np.dtype(dtype)
    return holder.weight


def check_mean(values, mean, std):
    assert abs(values.mean() - mean) <= Z * std / math.sqrt(values.size), (values.mean(), mean)


def check_std(values, std):
    # the sample sd of n normals has sd ~ std / sqrt(2n); uniform is tighter still
    assert abs(values.std() - std) <= Z * std / math.sqrt(2 * values.size), (values.std(), std)


# ---------------------------------------------------------------- uniform / normal / constants

@pytest.mark.parametrize("a, b", [(0.0, 1.0), (-3.0, -1.0), (-0.5, 2.5)])
def test_uniform_statistics(a, b):
    tg.manual_seed(0)
    p = param(200, 100)
    assert init.uniform_(p, a, b) is p
    values = p.numpy().astype(np.float64)
    assert values.min() >= a and values.max() <= b
    assert values.min() < a + 0.01 * (b - a) and values.max() > b - 0.01 * (b - a)
    width = b - a
    check_mean(values, (a + b) / 2, width / math.sqrt(12))
    check_std(values, width / math.sqrt(12))


@pytest.mark.parametrize("mean, std", [(0.0, 1.0), (2.0, 0.1), (-1.0, 3.0)])
def test_normal_statistics(mean, std):
    tg.manual_seed(0)
    p = param(300, 100, dtype="float64")
    assert init.normal_(p, mean, std) is p
    values = p.numpy()
    assert p.dtype == np.float64
    check_mean(values, mean, std)
    check_std(values, std)
    # roughly 68% within one sd
    inside = np.mean(np.abs(values - mean) < std)
    assert abs(inside - 0.6827) <= Z * math.sqrt(0.6827 * 0.3173 / values.size)


def test_constants():
    p = param(3, 2)
    assert init.constant_(p, 2.5) is p
    np.testing.assert_array_equal(p.numpy(), np.full((3, 2), 2.5))
    np.testing.assert_array_equal(init.ones_(p).numpy(), np.ones((3, 2)))
    np.testing.assert_array_equal(init.zeros_(p).numpy(), np.zeros((3, 2)))
    assert p.dtype == np.float32


# ---------------------------------------------------------------- xavier / kaiming

def fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


SHAPES = [(400, 100), (50, 300), (64, 16, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("gain", [1.0, 5.0 / 3.0])
def test_xavier_uniform_bound_and_std(shape, gain):
    tg.manual_seed(1)
    p = param(*shape)
    assert init.xavier_uniform_(p, gain=gain) is p
    fan_in, fan_out = fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    values = p.numpy().astype(np.float64)
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    check_mean(values, 0.0, bound / math.sqrt(3))
    check_std(values, bound / math.sqrt(3))


@pytest.mark.parametrize("shape", SHAPES)
def test_xavier_normal_std(shape):
    tg.manual_seed(2)
    p = init.xavier_normal_(param(*shape), gain=2.0)
    fan_in, fan_out = fans(shape)
    std = 2.0 * math.sqrt(2.0 / (fan_in + fan_out))
    values = p.numpy().astype(np.float64)
    check_mean(values, 0.0, std)
    check_std(values, std)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh", "linear"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_uniform_bound_and_std(shape, nonlinearity, mode):
    tg.manual_seed(3)
    p = param(*shape)
    assert init.kaiming_uniform_(p, nonlinearity=nonlinearity, mode=mode) is p
    fan = fans(shape)[0 if mode == "fan_in" else 1]
    bound = init.calculate_gain(nonlinearity) * math.sqrt(3.0 / fan)
    values = p.numpy().astype(np.float64)
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.99 * bound
    check_std(values, bound / math.sqrt(3))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_std(shape, mode):
    tg.manual_seed(4)
    p = init.kaiming_normal_(param(*shape), mode=mode)
    fan = fans(shape)[0 if mode == "fan_in" else 1]
    std = math.sqrt(2.0) / math.sqrt(fan)
    values = p.numpy().astype(np.float64)
    check_mean(values, 0.0, std)
    check_std(values, std)


def test_kaiming_bad_mode():
    with pytest.raises(ValueError, match="fan_in.*fan_out.*'fan_avg'"):
        init.kaiming_uniform_(param(3, 3), mode="fan_avg")


# ---------------------------------------------------------------- orthogonal

def assert_orthonormal(q, gain=1.0, atol=1e-5):
    rows, cols = q.shape
    gram = q.T @ q if rows >= cols else q @ q.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(min(rows, cols)), atol=atol)


@given(rows=st.integers(1, 12), cols=st.integers(1, 12), gain=st.sampled_from([1.0, 0.5, 2.0]),
       seed=st.integers(0, 1000))
def test_orthogonal_is_semi_orthogonal(rows, cols, gain, seed):
    tg.manual_seed(seed)
    p = param(rows, cols, dtype="float64")
    assert init.orthogonal_(p, gain=gain) is p
    assert p.shape == (rows, cols) and p.dtype == np.float64
    assert_orthonormal(p.numpy(), gain, atol=1e-12)


@given(hidden=st.integers(1, 8), cols=st.integers(1, 10), blocks=st.sampled_from([2, 3, 4]),
       seed=st.integers(0, 1000))
def test_orthogonal_blocks_are_each_orthogonal(hidden, cols, blocks, seed):
    tg.manual_seed(seed)
    p = init.orthogonal_(param(blocks * hidden, cols, dtype="float64"), blocks=blocks)
    weight = p.numpy()
    for k in range(blocks):
        assert_orthonormal(weight[k * hidden:(k + 1) * hidden], atol=1e-12)


def test_orthogonal_lstm_gate_blocks_of_weight_hh():
    tg.manual_seed(0)
    hidden = 16
    weight = init.orthogonal_(param(4 * hidden, hidden), blocks=4).numpy().astype(np.float64)
    gates = np.split(weight, 4, axis=0)
    for gate in gates:
        assert_orthonormal(gate)
    # four independent draws, not one matrix repeated
    assert not np.allclose(gates[0], gates[1], rtol=0, atol=0.01)
    # the whole (4H, H) matrix is NOT orthonormal as one block: its Gram matrix is 4 I
    np.testing.assert_allclose(weight.T @ weight, 4 * np.eye(hidden), atol=1e-4)


def test_orthogonal_float32_precision():
    tg.manual_seed(0)
    p = init.orthogonal_(param(20, 30))
    assert p.dtype == np.float32
    assert_orthonormal(p.numpy().astype(np.float64), atol=1e-5)


# ---------------------------------------------------------------- gains and errors

def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5.0 / 3.0)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2.0))
    assert init.calculate_gain("leaky_relu", 0.0) == pytest.approx(math.sqrt(2.0))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2.0 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2.0 / 1.04))
    with pytest.raises(ValueError, match="'swish'.*relu"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("initialiser", [init.xavier_uniform_, init.xavier_normal_,
                                         init.kaiming_uniform_, init.kaiming_normal_,
                                         init.orthogonal_])
def test_one_axis_weights_are_refused(initialiser):
    p = param(5)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        initialiser(p)
    np.testing.assert_array_equal(p.numpy(), np.zeros(5))


def test_orthogonal_refuses_three_axes():
    with pytest.raises(ValueError, match=r"2-axis.*\(2, 3, 4\)"):
        init.orthogonal_(param(2, 3, 4))


@pytest.mark.parametrize("rows, blocks", [(10, 4), (6, 0), (6, 7), (6, -2)])
def test_orthogonal_refuses_indivisible_blocks(rows, blocks):
    p = param(rows, 3)
    with pytest.raises(ValueError, match=f"{rows} rows.*{blocks} equal blocks"):
        init.orthogonal_(p, blocks=blocks)
    np.testing.assert_array_equal(p.numpy(), np.zeros((rows, 3)))


# ---------------------------------------------------------------- reproducibility and devices

@pytest.mark.parametrize("initialiser", [
    lambda p: init.uniform_(p, -1, 1), init.normal_, init.xavier_uniform_, init.xavier_normal_,
    init.kaiming_uniform_, init.kaiming_normal_, init.orthogonal_,
    lambda p: init.orthogonal_(p, blocks=4)])
def test_reproducible_under_manual_seed(initialiser):
    tg.manual_seed(11)
    first = initialiser(param(8, 6)).numpy()
    second = initialiser(param(8, 6)).numpy()
    tg.manual_seed(11)
    np.testing.assert_array_equal(initialiser(param(8, 6)).numpy(), first)
    np.testing.assert_array_equal(initialiser(param(8, 6)).numpy(), second)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_initialisers_keep_the_parameter_dtype(dtype):
    for fill in (init.uniform_, init.normal_, init.xavier_normal_, init.orthogonal_):
        p = param(6, 4, dtype=dtype)
        held = p
        assert fill(p) is held and p.dtype == np.dtype(dtype) and p.requires_grad
        assert np.all(np.isfinite(p.numpy())) and np.any(p.numpy() != 0)


def test_initialisers_fill_in_place_on_the_device(device):
    target = backend.canonical_device(device)
    tg.manual_seed(5)
    for fill in (init.uniform_, init.normal_, init.kaiming_uniform_, init.orthogonal_,
                 init.ones_):
        p = param(8, 4, device=device)
        assert fill(p) is p
        assert p.device == target and p.data.shape == (8, 4)
        assert backend.device_of_array(p.data) == target
    q = init.orthogonal_(param(8, 4, dtype="float64", device=device), blocks=2)
    for block in np.split(q.numpy(), 2):
        assert_orthonormal(block, atol=1e-12)


def test_kaiming_takes_pytorchs_positional_arguments():
    """kaiming_uniform_(w, a, mode, nonlinearity) as in torch.nn.init: a leaky_relu slope a."""
    tg.manual_seed(4)
    p = param(64, 32)
    init.kaiming_uniform_(p, 0.2, "fan_out")
    bound = math.sqrt(2.0 / (1 + 0.2 ** 2)) * math.sqrt(3.0 / 64)
    values = p.numpy().astype(np.float64)
    assert bound * 0.99 < np.abs(values).max() <= bound * (1 + 1e-6)
