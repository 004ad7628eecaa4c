"""softmax, log_softmax, logsumexp and sigmoid at +-1000: finite values, finite gradients and no
floating-point warnings (underflow to 0 is fine; overflow, invalid and divide-by-zero are not)."""

import numpy as np
import pytest

import tinygrad_seq as tg
from strict import strict

ROWS = np.array([
    [1000.0, -1000.0, 0.0],
    [1000.0, 1000.0, 1000.0],
    [-1000.0, -1000.0, -1000.0],
    [1000.0, 999.0, -1000.0],
    [-1000.0, 0.0, 1000.0],
])


def _reference_logsumexp(x, axis):
    x = x.astype(np.float64)
    m = x.max(axis=axis, keepdims=True)
    return np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m


def _reference_log_softmax(x, axis=-1):
    return x.astype(np.float64) - _reference_logsumexp(x, axis)


def _reference_sigmoid(x):
    x = x.astype(np.float64)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


CASES = {
    "softmax": (lambda t: t.softmax(-1), lambda x: np.exp(_reference_log_softmax(x))),
    "softmax_axis0": (lambda t: tg.softmax(t, 0), lambda x: np.exp(_reference_log_softmax(x, 0))),
    "log_softmax": (lambda t: t.log_softmax(-1), _reference_log_softmax),
    "logsumexp": (lambda t: t.logsumexp(-1), lambda x: _reference_logsumexp(x, -1)[:, 0]),
    "logsumexp_all": (lambda t: t.logsumexp(), lambda x: _reference_logsumexp(x, None).reshape(())),
    "sigmoid": (lambda t: t.sigmoid(), _reference_sigmoid),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_extreme_inputs_give_finite_values_and_gradients(device, dtype, name):
    fn, reference = CASES[name]
    upstream_rng = np.random.default_rng(0)
    with strict():
        x = tg.tensor(ROWS, dtype=dtype, device=device, requires_grad=True)
        y = fn(x)
        assert y.dtype == np.dtype(dtype)
        values = y.numpy()
        assert np.isfinite(values).all(), values
        tolerance = 1e-6 if dtype == "float32" else 1e-12
        np.testing.assert_allclose(values, reference(ROWS), rtol=tolerance, atol=tolerance)
        upstream = upstream_rng.standard_normal(y.shape).astype(dtype)
        y.backward(tg.tensor(upstream, dtype=dtype, device=device))
        grad = x.grad.numpy()
        assert grad.dtype == np.dtype(dtype)
        assert np.isfinite(grad).all(), grad


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_gradients_have_the_right_values(device, dtype):
    with strict():
        x = tg.tensor(ROWS, dtype=dtype, device=device, requires_grad=True)
        # d logsumexp / dx = softmax(x); d sum(log_softmax) / dx = 1 - n * softmax(x)
        (g_lse,) = tg.grad(x.logsumexp(-1).sum(), [x])
        (g_lsm,) = tg.grad(x.log_softmax(-1).sum(), [x])
        (g_sig,) = tg.grad(x.sigmoid().sum(), [x])
    softmax = np.exp(_reference_log_softmax(ROWS))
    tolerance = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(g_lse.numpy(), softmax, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(g_lsm.numpy(), 1 - ROWS.shape[1] * softmax, rtol=tolerance, atol=tolerance)
    s = _reference_sigmoid(ROWS)
    np.testing.assert_allclose(g_sig.numpy(), s * (1 - s), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_saturates_exactly(device, dtype):
    with strict():
        x = tg.tensor([-1000.0, 1000.0], dtype=dtype, device=device, requires_grad=True)
        y = x.sigmoid()
        y.sum().backward()
    assert y.tolist() == [0.0, 1.0]
    assert x.grad.tolist() == [0.0, 0.0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_at_extreme_logits(device, dtype):
    """-log_softmax picked at the target: finite loss (2000 for the wrong class) and gradient."""
    with strict():
        logits = tg.tensor(ROWS, dtype=dtype, device=device, requires_grad=True)
        target = tg.tensor([1, 0, 2, 2, 0], device=device)
        picked = logits.log_softmax(-1).gather(1, target.reshape(-1, 1))
        loss = -picked.mean()
        loss.backward()
    assert np.isfinite(loss.item())
    expected = -_reference_log_softmax(ROWS)[np.arange(5), [1, 0, 2, 2, 0]].mean()
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    assert np.isfinite(logits.grad.numpy()).all()
