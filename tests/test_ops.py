"""Generic op tests: every entry of the registry, on every device."""
import types

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from op_registry import OPS

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
