"""Generic op tests: every entry of the registry, on every device."""
import inspect
import types

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from op_registry import OPS
from tinygrad_seq.ops.axes import DIM_ALIASES

by_name = pytest.mark.parametrize("spec", OPS, ids=lambda spec: spec.name)
# The gradient checks have nothing to do for a spec with differentiable=False: not drawn for it.
differentiable = pytest.mark.parametrize("spec", [spec for spec in OPS if spec.differentiable],
                                         ids=lambda spec: spec.name)


@by_name
@given(data=st.data())
def test_forward_matches_numpy(spec, device, data):
    spec.check_forward(data.draw(spec.cases(), label="case"), device)


@differentiable
@given(data=st.data())
def test_gradient_matches_finite_differences(spec, device, data):
    spec.check_gradient(data.draw(spec.cases(), label="case"), device)


@differentiable
@given(data=st.data())
def test_backward_invariants(spec, device, data):
    spec.check_invariants(data.draw(spec.cases(), label="case"), device)


def test_registry_covers_every_exported_op():
    """Every public function of tinygrad_seq.ops has a spec, and every spec names one: a spec's
    op is its name up to the first '.' ('pow.scalar' is pow)."""
    exported = {name for name, obj in vars(tg.ops).items()
                if callable(obj) and not name.startswith("_") and not isinstance(obj, types.ModuleType)}
    exported -= {"to_device"}   # moves a tensor between two devices; a spec runs on one device
    named = {spec.name.split(".")[0] for spec in OPS}
    assert exported <= named, f"ops without a registry entry: {sorted(exported - named)}"
    assert named <= exported, f"specs whose name is no exported op: {sorted(named - exported)}"


# ---------------------------------------------------------------- dropout's forward (random)

@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_or_scales_each_element(device, p):
    tg.manual_seed(0)
    x = tg.rand(200, 300, device=device) + 1.0
    y = tg.dropout(x, p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.01      # 60,000 draws: 4 standard deviations is 0.008


def test_dropout_is_identity_in_eval_and_zero_at_one(device):
    x = tg.randn(5, 6, device=device)
    assert tg.dropout(x, 0.5, training=False) is x
    assert not tg.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="probability"):
        tg.dropout(x, 1.5)


def test_var_with_correction_matches_numpy_ddof():
    x = np.random.default_rng(0).standard_normal((4, 5))
    got = tg.var(tg.tensor(x, dtype="float64"), axis=1, correction=1)
    np.testing.assert_allclose(got.numpy(), np.var(x, axis=1, ddof=1), rtol=1e-12)


# ---------------------------------------------------------------- dim= for axis= (PyTorch's name)

_values = tg.tensor(np.random.default_rng(0).permutation(24).reshape(2, 3, 4) / 8.0)
_indices = tg.tensor([[[0, 2], [1, 1], [3, 0]], [[2, 2], [0, 1], [1, 3]]])
# name: (input, positional arguments after it, other keyword arguments, the axis arguments)
AXIS_CALLS = {
    **{name: (_values, (), {}, {"axis": 1}) for name in
       ["sum", "mean", "max", "min", "var", "logsumexp", "argmax", "argmin", "softmax",
        "log_softmax", "cumsum", "sort", "argsort", "flip", "unbind", "unsqueeze"]},
    **{name: (_values > 1.0, (), {}, {"axis": 1}) for name in ["all", "any"]},
    "squeeze": (_values.reshape(2, 1, 12), (), {}, {"axis": 1}),
    "take": (_values, ([2, 0],), {}, {"axis": 2}),
    "gather": (_values, (), {"indices": _indices}, {"axis": 2}),
    "split": (_values, (2,), {}, {"axis": 2}),
    "chunk": (_values, (2,), {}, {"axis": 2}),
    "topk": (_values, (2,), {}, {"axis": 0}),
    "flatten": (_values, (), {}, {"start_axis": 1, "end_axis": 2}),
    "concatenate": ([_values, _values], (), {}, {"axis": 1}),
    "stack": ([_values, _values], (), {}, {"axis": 1}),
    "masked_softmax": (_values, (_values > 1.0,), {}, {"axis": 1}),
}
# NumPy's names, which PyTorch spells differently (axis0/axis1, dim0/dim1): no alias.
NO_ALIAS = {"axis1", "axis2"}


def _takes_an_axis(fn):
    parameters = set(inspect.signature(fn).parameters)
    unknown = {p for p in parameters if "axis" in p} - set(DIM_ALIASES) - NO_ALIAS
    assert not unknown, f"{fn.__qualname__}: axis parameters {unknown} without a dim= alias rule"
    return bool(parameters & set(DIM_ALIASES))


def _public_axis_callables():
    """(label, name, callable) of every public function and Tensor method taking an axis."""
    found = []
    functional = tg.nn.functional
    for label, names in [("tg", vars(tg)), ("tg.ops", vars(tg.ops)),
                         ("tg.nn.functional", functional.__all__)]:
        namespace = vars(functional) if label == "tg.nn.functional" else names
        for name in names:
            obj = namespace[name]
            if getattr(obj, "__name__", name) != name:
                continue  # an alias (tg.cat is concatenate): checked under its own name
            if not name.startswith("_") and inspect.isfunction(obj) and _takes_an_axis(obj):
                found.append((f"{label}.{name}", name, obj))
    for name, obj in vars(tg.Tensor).items():
        if not name.startswith("_") and inspect.isfunction(obj) and _takes_an_axis(obj):
            found.append((f"Tensor.{name}", name, lambda x, *a, _name=name, **k: getattr(x, _name)(*a, **k)))
    return found


AXIS_CALLABLES = _public_axis_callables()


def test_every_axis_taking_function_has_a_dim_case():
    names = {name for _, name, _ in AXIS_CALLABLES}
    assert names == set(AXIS_CALLS), (f"no AXIS_CALLS entry for {sorted(names - set(AXIS_CALLS))}; "
                                      f"stale entries {sorted(set(AXIS_CALLS) - names)}")
    assert any(label.startswith("Tensor.") for label, _, _ in AXIS_CALLABLES)


def _outputs(result):
    return [r.numpy() for r in (result if isinstance(result, tuple) else (result,))]


@pytest.mark.parametrize("label, name, fn", AXIS_CALLABLES, ids=[c[0] for c in AXIS_CALLABLES])
def test_dim_is_an_alias_of_axis(label, name, fn):
    data, args, kwargs, axes = AXIS_CALLS[name]
    dims = {DIM_ALIASES[axis]: value for axis, value in axes.items()}
    with_axis, with_dim = _outputs(fn(data, *args, **kwargs, **axes)), _outputs(fn(data, *args, **kwargs, **dims))
    assert len(with_axis) == len(with_dim)
    for a, d in zip(with_axis, with_dim):
        np.testing.assert_array_equal(a, d)
    axis, dim = next(iter(axes)), next(iter(dims))
    with pytest.raises(TypeError, match=f"{name}: got both {axis}= and {dim}="):
        fn(data, *args, **kwargs, **axes, **dims)


def test_dim_next_to_a_positional_axis_is_an_error():
    x = tg.ones(2, 3)
    with pytest.raises(TypeError, match="sum: got both axis= and dim="):
        tg.sum(x, 0, dim=1)
    with pytest.raises(TypeError, match="sum: got both axis= and dim="):
        x.sum(0, dim=1)
    assert x.sum(dim=1).shape == (2,) and x.sum(1).shape == (2,)


# ---------------------------------------------------------------- sort, topk, cumsum, masked_fill

def test_sort_and_topk_keep_ties_in_index_order_as_torch_stable_sort(device, torch):
    """Stable, in both directions: what torch.sort(stable=True) does (its topk promises nothing
    for ties; ours is the stable sort's first k)."""
    values = [[1.0, 2.0, 2.0, 1.0, 3.0, 2.0], [0.0, 0.0, 0.0, -1.0, 0.0, -1.0]]
    x = tg.tensor(values, device=device)
    for descending in (False, True):
        expected = torch.sort(torch.tensor(values), dim=1, descending=descending, stable=True)
        got = tg.sort(x, axis=1, descending=descending)
        assert got[0].tolist() == expected.values.tolist()
        assert got[1].tolist() == expected.indices.tolist()
        assert tg.argsort(x, descending=descending).tolist() == expected.indices.tolist()
        top = x.topk(4, largest=descending)
        assert top[1].tolist() == expected.indices[:, :4].tolist()


def test_sort_puts_nan_where_torch_does(device, torch):
    values = [1.0, float("nan"), 2.0, float("nan"), -1.0]
    for descending in (False, True):
        expected = torch.sort(torch.tensor(values), descending=descending, stable=True)
        got = tg.sort(tg.tensor(values, device=device), descending=descending)
        np.testing.assert_array_equal(got[0].numpy(), expected.values.numpy())
        assert got[1].tolist() == expected.indices.tolist()


def test_sort_gradient_reaches_tied_values_once_each(device):
    """At a tie the gradient of each sorted value goes to the one element it came from."""
    x = tg.tensor([2.0, 1.0, 2.0], device=device, requires_grad=True)
    values, indices = x.sort(descending=True)
    (values * tg.tensor([10.0, 20.0, 30.0], device=device)).sum().backward()
    assert indices.tolist() == [0, 2, 1] and x.grad.tolist() == [10.0, 30.0, 20.0]
    assert indices.dtype == np.int64 and not indices.requires_grad


def test_topk_rejects_k_out_of_range(device):
    x = tg.ones(2, 3, device=device)
    with pytest.raises(ValueError, match=r"topk: k=4 is out of range for an axis of size 3"):
        x.topk(4)
    with pytest.raises(ValueError, match=r"topk: k=-1"):
        x.topk(-1)
    with pytest.raises(TypeError, match=r"topk: k must be an integer, got 1\.5"):
        x.topk(1.5)


def test_cumsum_of_integers_and_bools_is_int64_as_in_torch(device):
    assert tg.tensor([True, True, False], device=device).cumsum(0).tolist() == [1, 2, 2]
    x = tg.tensor([2**30, 2**30, 2**30], dtype="int32", device=device)
    assert x.cumsum(0).dtype == np.int64 and x.cumsum(0).tolist() == [2**30, 2**31, 3 * 2**30]


def test_masked_fill_passes_no_gradient_where_filled(device):
    x = tg.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    mask = tg.tensor([[True], [False]], device=device)            # broadcasts to (2, 3)
    y = x.masked_fill(mask, -5.0)
    assert y.tolist() == [[-5.0, -5.0, -5.0], [1.0, 2.0, 3.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[1.0, 1.0, 1.0]]                   # only the unfilled row


def test_masked_fill_errors(device):
    x = tg.ones(2, 3, device=device)
    with pytest.raises(TypeError, match="masked_fill: mask must be bool"):
        x.masked_fill(tg.ones(2, 3, device=device), 0.0)
    with pytest.raises(ValueError, match=r"masked_fill: value must be a number or a 0-d tensor.*\(3,\)"):
        x.masked_fill(x > 0, tg.zeros(3, device=device))
    with pytest.raises(ValueError, match=r"masked_fill.*\(2, 3\).*\(4,\)"):
        x.masked_fill(tg.zeros(4, device=device) > 0, 0.0)


def test_numel_and_ndim(device):
    x = tg.zeros(2, 3, 4, device=device)
    assert x.numel() == 24 and isinstance(x.numel(), int) and x.ndim == 3
    assert tg.tensor(1.0, device=device).numel() == 1 and tg.zeros(0, 3, device=device).numel() == 0


# ---------------------------------------------------------------- multinomial and randint (random)

# Upper 1e-6 quantiles of the chi-square distribution (regularized incomplete gamma): with a
# correct sampler a seed fails one of these bounds with probability 1e-6; a sampler that is off
# by a few percent on a class fails it by far at these sample sizes.
CHI2_1E6 = {3: 30.66, 9: 44.81, 11: 48.87}


def chi_square(counts, expected):
    counts, expected = np.asarray(counts, float), np.asarray(expected, float)
    return float(((counts - expected) ** 2 / expected).sum())


def test_multinomial_with_replacement_draws_in_proportion(device):
    tg.manual_seed(0)
    weights = np.array([1.0, 0.0, 2.0, 3.0, 4.0, 0.0])           # unnormalised; two zeros
    draws = tg.multinomial(tg.tensor(weights, device=device), 20000, replacement=True).numpy()
    assert draws.shape == (20000,) and draws.dtype == np.int64
    counts = np.bincount(draws, minlength=6)
    assert counts[1] == 0 and counts[5] == 0                      # zero probability: never
    nonzero = weights > 0
    expected = 20000 * weights[nonzero] / weights.sum()
    assert chi_square(counts[nonzero], expected) < CHI2_1E6[3]


def test_multinomial_rows_are_separate_distributions(device):
    tg.manual_seed(1)
    probs = tg.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], dtype="float64", device=device)
    draws = probs.multinomial(4000, replacement=True).numpy()
    assert draws.shape == (2, 4000)
    assert (draws[0] == 2).all()
    counts = np.bincount(draws[1], minlength=3)
    assert counts[2] == 0 and abs(counts[0] - 2000) < 5 * np.sqrt(1000)   # 5 standard deviations


def test_multinomial_without_replacement_draws_in_sequence(device):
    """The ordered pairs (first, second) of draws without replacement follow
    P(i, j) = p_i p_j / (1 - p_i), as one draw after the other (PyTorch's semantics)."""
    tg.manual_seed(2)
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.0])
    n = 20000
    draws = tg.multinomial(tg.tensor(np.tile(p, (n, 1)), device=device), 2).numpy()
    assert (draws[:, 0] != draws[:, 1]).all() and not (draws == 4).any()
    pairs = [(i, j) for i in range(4) for j in range(4) if i != j]
    counts = [int(((draws[:, 0] == i) & (draws[:, 1] == j)).sum()) for i, j in pairs]
    expected = [n * p[i] * p[j] / (1 - p[i]) for i, j in pairs]
    assert sum(counts) == n
    assert chi_square(counts, expected) < CHI2_1E6[11]


def test_multinomial_without_replacement_gives_distinct_indices(device):
    tg.manual_seed(3)
    rng = np.random.default_rng(3)
    zeroed = (np.arange(8) % 2 == 0) & (rng.random((50, 1)) < 0.5)   # half the rows: 4 classes
    probs = tg.tensor(rng.random((50, 8)) + 0.01, device=device).masked_fill(zeroed, 0.0)
    draws = tg.multinomial(probs, 4).numpy()
    zero = probs.numpy() == 0
    for row, drawn in enumerate(draws):
        assert len(set(drawn.tolist())) == 4
        assert not zero[row, drawn].any()
    everything = tg.multinomial(probs[:1], int((~zero[0]).sum())).numpy()[0]
    assert set(everything.tolist()) == set(np.flatnonzero(~zero[0]).tolist())


def test_multinomial_is_reproducible_with_manual_seed(device):
    probs = tg.tensor([0.2, 0.3, 0.5], device=device)
    tg.manual_seed(7)
    a = tg.multinomial(probs, 10, replacement=True).tolist(), tg.multinomial(probs, 3).tolist()
    tg.manual_seed(7)
    b = tg.multinomial(probs, 10, replacement=True).tolist(), tg.multinomial(probs, 3).tolist()
    assert a == b


@pytest.mark.parametrize("probs, num_samples, replacement, error, message", [
    ([0.5, -0.1, 0.6], 1, True, ValueError, r"non-negative, got -0\.1"),
    ([[0.5, 0.5], [0.0, 0.0]], 1, True, ValueError, "row 1 of probs sums to zero"),
    ([0.5, float("nan")], 1, True, ValueError, "finite, got NaN or infinity"),
    ([0.5, float("inf")], 1, False, ValueError, "finite, got NaN or infinity"),
    ([0.5, 0.0, 0.5], 3, False, ValueError, "cannot draw 3 samples without replacement from a row "
                                             "with 2 classes of non-zero probability"),
    ([0.5, 0.5], 0, True, ValueError, "num_samples must be positive, got 0"),
    ([0.5, 0.5], 1.0, True, TypeError, r"num_samples must be an integer, got 1\.0"),
    ([[[0.5]]], 1, True, ValueError, r"1 or 2 dimensions.*\(1, 1, 1\)"),
])
def test_multinomial_rejects_what_is_no_distribution(device, probs, num_samples, replacement,
                                                      error, message):
    with pytest.raises(error, match="multinomial: .*" + message):
        tg.multinomial(tg.tensor(probs, device=device), num_samples, replacement)


def test_multinomial_needs_float_probabilities(device):
    with pytest.raises(TypeError, match="multinomial: probs must be floating point, got int64"):
        tg.multinomial(tg.tensor([1, 2], device=device), 1)


def test_randint_is_uniform_over_its_range(device):
    tg.manual_seed(0)
    x = tg.randint(-3, 7, (20000,), device=device)
    assert x.dtype == np.int64 and x.shape == (20000,)
    values = x.numpy()
    assert values.min() == -3 and values.max() == 6
    counts = np.bincount(values + 3, minlength=10)
    assert chi_square(counts, np.full(10, 2000.0)) < CHI2_1E6[9]


def test_randint_forms_dtypes_and_seed(device):
    tg.manual_seed(5)
    a = tg.randint(5, (3, 4), device=device)                      # randint(high, size)
    tg.manual_seed(5)
    b = tg.randint(0, 5, size=(3, 4), device=device)              # randint(low, high, size)
    assert a.tolist() == b.tolist() and a.shape == (3, 4) and a.device == b.device
    assert tg.randint(5, size=2, device=device).shape == (2,)
    assert tg.randint(2, 3, (4,), dtype="int32", device=device).tolist() == [2, 2, 2, 2]
    f = tg.randint(0, 4, (50,), dtype="float32", device=device)
    assert f.dtype == np.float32 and set(f.tolist()) <= {0.0, 1.0, 2.0, 3.0}


@pytest.mark.parametrize("call, error, message", [
    (lambda: tg.randint(5, 5, (2,)), ValueError, r"low \(5\) must be less than high \(5\)"),
    (lambda: tg.randint(5), TypeError, "size is required"),
    (lambda: tg.randint(0, 2.5, (2,)), TypeError, r"high must be an integer, got 2\.5"),
    (lambda: tg.randint(0, 5, (2.5,)), TypeError, r"2\.5"),
    (lambda: tg.randint(0, 5, (-1,)), ValueError, r"\(-1,\) has a negative dimension"),
    (lambda: tg.randint(0, 2**40, (2,), dtype="int32"), OverflowError, r"int32.*2147483647"),
    (lambda: tg.randint(0, 2, (2,), dtype="bool"), TypeError, "bool"),
])
def test_randint_errors(call, error, message):
    with pytest.raises(error, match="randint: .*" + message):
        call()
