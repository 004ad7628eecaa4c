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
        "log_softmax", "flip", "unbind", "unsqueeze"]},
    **{name: (_values > 1.0, (), {}, {"axis": 1}) for name in ["all", "any"]},
    "squeeze": (_values.reshape(2, 1, 12), (), {}, {"axis": 1}),
    "take": (_values, ([2, 0],), {}, {"axis": 2}),
    "gather": (_values, (), {"indices": _indices}, {"axis": 2}),
    "split": (_values, (2,), {}, {"axis": 2}),
    "chunk": (_values, (2,), {}, {"axis": 2}),
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
