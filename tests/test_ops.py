"""Generic op tests: every entry of the registry, on every device."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from op_registry import OPS

by_name = pytest.mark.parametrize("spec", OPS, ids=lambda spec: spec.name)


@by_name
@given(data=st.data())
def test_forward_matches_numpy(spec, device, data):
    spec.check_forward(data.draw(spec.cases(), label="case"), device)


@by_name
@given(data=st.data())
def test_gradient_matches_finite_differences(spec, device, data):
    spec.check_gradient(data.draw(spec.cases(), label="case"), device)


@by_name
@given(data=st.data())
def test_backward_invariants(spec, device, data):
    spec.check_invariants(data.draw(spec.cases(), label="case"), device)


def test_registry_covers_every_exported_op():
    exported = {"neg", "add", "sub", "mul", "div", "pow", "exp", "log", "sqrt", "abs", "tanh",
                "sigmoid", "relu", "maximum", "minimum", "clip", "where", "astype", "less",
                "less_equal", "greater", "greater_equal", "equal", "not_equal", "sum", "mean",
                "max", "min", "var", "logsumexp", "argmax", "argmin", "all", "any", "reshape",
                "flatten", "permute", "transpose", "swapaxes", "broadcast_to", "squeeze",
                "unsqueeze", "concatenate", "stack", "split", "chunk", "unbind", "flip", "pad",
                "getitem", "take", "gather", "one_hot", "matmul", "softmax", "log_softmax",
                "dropout"}
    names = {spec.name.split("_")[0] if spec.name.startswith(("getitem", "astype", "pow_")) else spec.name
             for spec in OPS}
    assert exported <= names, f"ops without a registry entry: {sorted(exported - names)}"


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
