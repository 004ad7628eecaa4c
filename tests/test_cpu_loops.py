"""The compiled CPU loops (tinygrad_seq/cpu_loops.py): their float32 tanh against the exact
one, NaN as NumPy has it, the switch (test_fused.py runs every kernel test both ways)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.backend import cpu_loops
from tinygrad_seq.ops.elementwise import CPU_LOOP_MIN_SIZE

pytest.importorskip("numba")
loops = cpu_loops(np, np.float32)

ULPS32 = 5   # the rational approximation's error bound, in units in the last place of float32


def compiled_tanh(x):
    out = np.empty_like(x)
    loops.tanh_into(np.ascontiguousarray(x), out)
    return out


def ulps(got, exact):
    """|got - exact| in units in the last place of float32 at ``exact``."""
    spacing = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - exact) / spacing


def test_float32_tanh_is_within_a_few_ulps_everywhere():
    grid = np.concatenate([np.linspace(-12, 12, 2_000_001, dtype=np.float32),
                           np.geomspace(1e-8, 1, 100_001).astype(np.float32)])
    grid = np.concatenate([grid, -grid])
    got = compiled_tanh(grid)
    assert ulps(got, np.tanh(grid.astype(np.float64))).max() <= ULPS32
    assert np.array_equal(got[:len(grid) // 2], -got[len(grid) // 2:])   # odd, exactly


@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True),
                min_size=1, max_size=64))
def test_float32_tanh_of_any_float(values):
    x = np.array(values, np.float32)
    got = compiled_tanh(x)
    exact = np.tanh(x.astype(np.float64))
    finite = ~np.isnan(x)
    assert np.isnan(got[~finite]).all()
    assert (np.abs(got[finite]) <= 1).all()
    assert (ulps(got[finite], exact[finite]) <= ULPS32).all()
    assert np.array_equal(np.signbit(got[finite]), np.signbit(x[finite]))   # -0 stays -0


def test_saturation_and_special_values():
    x = np.array([np.inf, -np.inf, 9.5, -9.5, 30, 0.0, -0.0, 1e-45], np.float32)
    assert compiled_tanh(x).tolist() == [1, -1, 1, -1, 1, 0, 0, np.float32(1e-45)]


def test_float64_uses_the_exact_tanh():
    x = np.linspace(-20, 20, 100_001)
    got = compiled_tanh(x)
    exact = np.tanh(x)
    assert (np.abs(got - exact) <= 2 * np.spacing(np.abs(exact))).all()


def test_the_switch_turns_them_off(monkeypatch):
    assert loops is not None
    monkeypatch.setenv("TINYGRAD_SEQ_CPU_LOOPS", "0")
    assert cpu_loops(np, np.float32) is None


@pytest.mark.parametrize("layer", [
    lambda: tg.nn.RNN(3, 4, nonlinearity="relu"), lambda: tg.nn.RNN(3, 4),
    lambda: tg.nn.LSTM(3, 4), lambda: tg.nn.GRU(3, 4)], ids=["relu", "tanh", "lstm", "gru"])
def test_a_nan_spreads_as_in_numpy(layer, monkeypatch):
    """A NaN in the input reaches the same outputs and gradients with the steps compiled as
    with NumPy's operations (np.maximum keeps NaN; a comparison that dropped it would hide
    it from tg.detect_anomaly)."""
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    x[1, 0, 2] = np.nan
    results = []
    for switch in ("1", "0"):
        monkeypatch.setenv("TINYGRAD_SEQ_CPU_LOOPS", switch)
        tg.manual_seed(0)
        model, inputs = layer(), tg.tensor(x, requires_grad=True)
        out, _ = model(inputs)
        out.sum().backward()
        results.append((np.isnan(out.numpy()), np.isnan(inputs.grad.numpy())))
    assert results[0][0].any()
    for compiled, numpy in zip(*results):
        assert np.array_equal(compiled, numpy)


@pytest.mark.parametrize("op", ["tanh", "sigmoid"])
@pytest.mark.parametrize("shape, strided", [((1000,), False), ((16, 64), False),
                                            ((16, 64), True), ((3,), False)])
def test_the_ops_agree_with_numpys_operations(op, shape, strided, monkeypatch):
    """tg.tanh and tg.sigmoid on float32: with the loops (from CPU_LOOP_MIN_SIZE elements, any
    layout) as with NumPy's operations, within the loops' ulps, gradients too."""
    rng = np.random.default_rng(1)
    data = (rng.standard_normal((shape[0], 2 * shape[-1]) if strided else shape) * 4)
    data = data.astype(np.float32)
    calls = []
    loop = getattr(loops, f"{op}_into")
    monkeypatch.setattr(loops, f"{op}_into", lambda *a: calls.append(1) or loop(*a))
    results = []
    for switch in ("1", "0"):
        monkeypatch.setenv("TINYGRAD_SEQ_CPU_LOOPS", switch)
        x = tg.tensor(data, requires_grad=True)
        y = getattr(tg, op)(x[:, ::2] if strided else x)
        (y * y).sum().backward()
        results.append((y.numpy(), x.grad.numpy()))
    assert len(calls) == (int(np.prod(shape)) >= CPU_LOOP_MIN_SIZE)   # the loop ran once, or not
    (y_loops, g_loops), (y_numpy, g_numpy) = results
    exact = np.tanh(data.astype(np.float64)[:, ::2] if strided else data.astype(np.float64))
    if op == "sigmoid":
        exact = 1 / (1 + np.exp(-(data.astype(np.float64)[:, ::2] if strided else data)))
    assert np.abs(y_loops - exact).max() <= 6 * np.finfo(np.float32).eps
    assert np.abs(y_numpy - exact).max() <= 6 * np.finfo(np.float32).eps
    assert np.allclose(g_loops, g_numpy, rtol=1e-5, atol=2e-6)


def test_an_infinite_gradient_spreads_as_in_numpy(monkeypatch):
    """The ReLU RNN's BPTT multiplies the upstream gradient by the slope, as the Relu op does:
    an infinite gradient where the unit is off gives NaN (inf * 0), not a silent zero."""
    x = np.random.default_rng(2).standard_normal((6, 3, 2)).astype(np.float32)
    grads = []
    for switch in ("1", "0"):
        monkeypatch.setenv("TINYGRAD_SEQ_CPU_LOOPS", switch)
        tg.manual_seed(0)
        model = tg.nn.RNN(2, 5, nonlinearity="relu")
        out, _ = model(tg.tensor(x))
        upstream = np.ones(out.shape, np.float32)
        upstream[np.nonzero(out.numpy() == 0)[0][:3]] = np.inf   # steps where some unit is off
        with np.errstate(invalid="ignore"):   # NumPy's steps warn of inf * 0
            out.backward(tg.tensor(upstream))
        weight_hh = next(p for name, p in model.named_parameters() if "weight_hh" in name)
        grads.append(np.isnan(weight_hh.grad.numpy()))
    assert grads[1].any()
    assert np.array_equal(grads[0], grads[1])


@pytest.mark.parametrize("layer", [tg.nn.LSTM, tg.nn.GRU, tg.nn.RNN])
def test_float16_runs_without_the_loops(layer):
    """Numba has no float16: a float16 layer runs the kernels' array operations."""
    model = layer(3, 4)
    model.to(dtype="float16")
    x = tg.tensor(np.ones((5, 2, 3)), dtype="float16", requires_grad=True)
    out, _ = model(x)
    out.sum().backward()
    assert out.dtype == np.float16 and np.isfinite(x.grad.numpy()).all()
