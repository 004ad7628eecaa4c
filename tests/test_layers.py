"""Feed-forward layers and their functional forms: Linear, Embedding, Dropout, LayerNorm, activations."""
import math
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_seq as tg
from tinygrad_seq import backend
from tinygrad_seq.nn import Dropout, Embedding, LayerNorm, Linear, ReLU, Sigmoid, Tanh
from tinygrad_seq.nn import functional as F
from tinygrad_seq.testing import assert_close, gradcheck_module

SEEDS = st.integers(0, 2**31 - 1)


def randn(rng, *shape, dtype="float64", device="cpu"):
    return tg.tensor(rng.standard_normal(shape), dtype=dtype, device=device)


def set_parameters(module, rng):
    """Random values in every parameter (so zeros/ones defaults do not hide a wrong formula)."""
    for p in module.parameters():
        p.data = p.data.dtype.type(1) * rng.standard_normal(p.shape).astype(p.dtype)


# ---------------------------------------------------------------- Linear

leading_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


@given(lead=leading_shapes, in_features=st.integers(1, 4), out_features=st.integers(1, 4),
       bias=st.booleans(), seed=SEEDS)
def test_linear_matches_numpy_reference(lead, in_features, out_features, bias, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(in_features, out_features, bias=bias).double()
    set_parameters(layer, rng)
    x = randn(rng, *lead, in_features)
    w = layer.weight.numpy()
    expected = x.numpy() @ w.T + (layer.bias.numpy() if bias else 0.0)
    out = layer(x)
    assert out.shape == lead + (out_features,) and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(F.linear(x, layer.weight, layer.bias).numpy(), out.numpy())


@given(lead=leading_shapes, in_features=st.integers(1, 4), out_features=st.integers(1, 4),
       bias=st.booleans(), seed=SEEDS)
def test_linear_gradcheck_float64(lead, in_features, out_features, bias, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(in_features, out_features, bias=bias).double()
    set_parameters(layer, rng)
    assert gradcheck_module(lambda x: layer(x), layer, randn(rng, *lead, in_features), seed=seed)


@given(steps=st.integers(1, 5), batch=st.integers(1, 3), in_features=st.integers(1, 4),
       out_features=st.integers(1, 4), seed=SEEDS)
def test_linear_over_time_equals_linear_per_step(steps, batch, in_features, out_features, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(in_features, out_features).double()
    set_parameters(layer, rng)
    x = randn(rng, steps, batch, in_features)
    whole = layer(x)
    per_step = tg.stack([layer(x[t]) for t in range(steps)], axis=0)
    np.testing.assert_allclose(whole.numpy(), per_step.numpy(), rtol=1e-12, atol=1e-12)
    # the gradients agree too
    upstream = randn(rng, steps, batch, out_features)
    (whole * upstream).sum().backward()
    grad_whole = [p.grad.numpy() for p in layer.parameters()]
    layer.zero_grad()
    (tg.stack([layer(x[t]) for t in range(steps)], axis=0) * upstream).sum().backward()
    for g, p in zip(grad_whole, layer.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_linear_uses_one_product_for_all_time_steps(monkeypatch):
    """One op for the (T, B, in) input, which the op runs as one (T*B, in) @ (in, out) GEMM."""
    calls = []
    original = tg.ops.linear

    def counting(x, weight):
        calls.append((x.shape, weight.shape))
        return original(x, weight)

    monkeypatch.setattr(tg.ops, "linear", counting)
    out = Linear(6, 3)(tg.randn(7, 5, 6))
    assert out.shape == (7, 5, 3)
    assert calls == [((7, 5, 6), (3, 6))]


def test_linear_without_bias():
    layer = Linear(4, 2, bias=False)
    assert layer.bias is None
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    x = tg.randn(3, 4)
    assert_close(layer(x).numpy(), x.numpy() @ layer.weight.numpy().T, terms=4)   # float32


def test_linear_initial_weights_lie_within_one_over_sqrt_fan_in():
    tg.manual_seed(0)
    layer = Linear(25, 400)
    bound = 1 / math.sqrt(25)
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert p.dtype == np.float32 and p.requires_grad
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert layer.weight.shape == (400, 25) and layer.bias.shape == (400,)


def test_linear_with_an_empty_leading_axis():
    layer = Linear(3, 2)
    out = layer(tg.randn(0, 4, 3))
    assert out.shape == (0, 4, 2)


@pytest.mark.parametrize("shape", [(5,), (2, 5), (3, 2, 5)])
def test_linear_wrong_feature_size_names_both(shape):
    with pytest.raises(ValueError, match=re.escape("(5,)") + ".*" + re.escape("(3, 4)")):
        Linear(4, 3)(tg.randn(*shape))


def test_linear_on_device(device):
    layer = Linear(4, 3).to(device)
    x = tg.randn(2, 5, 4, device=device)
    out = layer(x)
    assert out.device == backend.canonical_device(device)
    expected = x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()
    assert_close(out.numpy(), expected, terms=4 + 1)   # float32, each device's own BLAS
    out.sum().backward()
    assert layer.weight.grad.device == out.device


# ---------------------------------------------------------------- Embedding

@st.composite
def lookups(draw, max_rows=6, max_index_dims=3):
    rows = draw(st.integers(1, max_rows))
    dim = draw(st.integers(1, 4))
    index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_index_dims, min_side=1,
                                        max_side=4))
    indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, rows - 1)))
    return rows, dim, indices


@given(lookup=lookups(), seed=SEEDS)
def test_embedding_is_a_row_lookup_with_scatter_add_gradient(lookup, seed):
    rows, dim, indices = lookup
    rng = np.random.default_rng(seed)
    emb = Embedding(rows, dim).double()
    set_parameters(emb, rng)
    out = emb(tg.tensor(indices))
    weight = emb.weight.numpy()
    assert out.shape == indices.shape + (dim,)
    np.testing.assert_array_equal(out.numpy(), weight[indices])
    upstream = rng.standard_normal(out.shape)
    (out * tg.tensor(upstream, dtype="float64")).sum().backward()
    expected = np.zeros_like(weight)
    np.add.at(expected, indices, upstream)  # repeated indices add up
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_embedding_repeated_index_receives_the_sum():
    emb = Embedding(3, 2)
    emb(tg.tensor([1, 1, 1, 2])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[0, 0], [3, 3], [1, 1]])


def test_embedding_accepts_lists_and_arrays_of_indices():
    emb = Embedding(5, 3)
    np.testing.assert_array_equal(emb([[0, 4]]).numpy(), emb.weight.numpy()[[[0, 4]]])
    np.testing.assert_array_equal(emb(np.array([3])).numpy(), emb.weight.numpy()[[3]])


@given(lookup=lookups(), seed=SEEDS, data=st.data())
def test_embedding_padding_row_starts_at_zero_and_never_gets_gradient(lookup, seed, data):
    rows, dim, indices = lookup
    padding_idx = data.draw(st.integers(0, rows - 1))
    rng = np.random.default_rng(seed)
    emb = Embedding(rows, dim, padding_idx=padding_idx).double()
    assert emb.padding_idx == padding_idx
    np.testing.assert_array_equal(emb.weight.numpy()[padding_idx], np.zeros(dim))
    indices = indices.copy()
    indices.reshape(-1)[0] = padding_idx  # the padding index is in the batch
    out = emb(tg.tensor(indices))
    weight = emb.weight.numpy()
    expected_out = weight[indices] * (indices != padding_idx)[..., None]
    np.testing.assert_array_equal(out.numpy(), expected_out)
    upstream = rng.standard_normal(out.shape)
    (out * tg.tensor(upstream, dtype="float64")).sum().backward()
    grad = emb.weight.grad.numpy()
    assert np.all(grad[padding_idx] == 0.0)
    expected = np.zeros_like(weight)
    keep = indices != padding_idx
    np.add.at(expected, indices[keep], upstream[keep])
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12)


def test_embedding_negative_padding_idx_counts_from_the_end():
    emb = Embedding(5, 3, padding_idx=-1)
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(emb.weight.numpy()[4], np.zeros(3))
    assert np.all(emb.weight.numpy()[:4] != 0)
    out = emb(tg.tensor([4, 0, 4]))
    np.testing.assert_array_equal(out.numpy()[[0, 2]], np.zeros((2, 3)))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[4], np.zeros(3))
    np.testing.assert_array_equal(emb.weight.grad.numpy()[0], np.ones(3))


def test_embedding_padding_row_gets_no_gradient_through_a_negative_index():
    """Index -1 addresses the last row: when that is the padding row it must still be inert
    (or negative indices must be refused outright, as PyTorch does)."""
    emb = Embedding(4, 2, padding_idx=3)
    try:
        out = emb(tg.tensor([-1, 0]))
    except IndexError:
        return
    np.testing.assert_array_equal(out.numpy()[0], np.zeros(2))
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[3], np.zeros(2))


@pytest.mark.parametrize("padding_idx", [5, -6, 100])
def test_embedding_padding_idx_out_of_range(padding_idx):
    with pytest.raises(ValueError, match=f"padding_idx {padding_idx}.*5 rows"):
        Embedding(5, 2, padding_idx=padding_idx)


@pytest.mark.parametrize("index", [5, 17])
def test_embedding_out_of_range_index_is_a_clear_error(index):
    emb = Embedding(5, 2)
    with pytest.raises(IndexError, match=f"index {index}.*size 5"):
        emb(tg.tensor([[0, index]]))


def test_embedding_float_indices_are_refused():
    with pytest.raises(TypeError, match="integers"):
        Embedding(5, 2)(tg.tensor([0.0, 1.0]))


def test_embedding_gradcheck_float64_with_padding():
    emb = Embedding(6, 3, padding_idx=2).double()
    set_parameters(emb, np.random.default_rng(0))
    indices = tg.tensor([[0, 2, 5], [5, 1, 2]])
    assert gradcheck_module(lambda idx: emb(idx).tanh(), emb, indices)


def test_from_pretrained_frozen_has_no_gradient():
    vectors = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = Embedding.from_pretrained(tg.tensor(vectors))
    assert not emb.weight.requires_grad
    assert (emb.num_embeddings, emb.embedding_dim) == (4, 3)
    assert [name for name, _ in emb.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(emb(tg.tensor([3, 1])).numpy(), vectors[[3, 1]])
    other = tg.randn(2, 3, requires_grad=True)
    (emb(tg.tensor([3, 1])) * other).sum().backward()
    assert emb.weight.grad is None and other.grad is not None


def test_from_pretrained_unfrozen_trains():
    vectors = np.random.default_rng(0).standard_normal((4, 3))
    emb = Embedding.from_pretrained(vectors, freeze=False)
    assert emb.weight.requires_grad and emb.weight.dtype == np.float32
    np.testing.assert_array_equal(emb.weight.numpy(), vectors.astype(np.float32))
    emb(tg.tensor([0, 0, 2])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [2, 0, 1, 0])


def test_from_pretrained_with_padding_idx_masks_that_row():
    vectors = np.ones((3, 2), dtype=np.float32)
    emb = Embedding.from_pretrained(tg.tensor(vectors), freeze=False, padding_idx=0)
    out = emb(tg.tensor([0, 1]))
    np.testing.assert_array_equal(out.numpy(), [[0, 0], [1, 1]])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(), [[0, 0], [1, 1], [0, 0]])


def test_from_pretrained_keeps_a_float64_tensor_in_float64():
    vectors = tg.tensor(np.linspace(0, 1, 6).reshape(3, 2), dtype="float64")
    emb = Embedding.from_pretrained(vectors)
    assert emb.weight.dtype == np.float64
    np.testing.assert_array_equal(emb.weight.numpy(), vectors.numpy())


def test_from_pretrained_needs_a_matrix():
    with pytest.raises(ValueError, match=r"2-axis.*\(6,\)"):
        Embedding.from_pretrained(tg.zeros(6))


def test_embedding_on_device(device):
    emb = Embedding(5, 3, padding_idx=0).to(device)
    indices = tg.tensor([[0, 4], [4, 2]], device=device)
    out = emb(indices)
    assert out.device == backend.canonical_device(device)
    np.testing.assert_array_equal(out.numpy(), emb.weight.numpy()[[[0, 4], [4, 2]]])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [0, 0, 1, 0, 2])


# ---------------------------------------------------------------- Dropout

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_in_train_mode(p):
    tg.manual_seed(1234)
    n = 40_000
    x = tg.ones(n, dtype="float64", requires_grad=True)
    out = Dropout(p)(x)
    values = out.numpy()
    zeroed = np.mean(values == 0)
    assert abs(zeroed - p) <= 5 * math.sqrt(p * (1 - p) / n)
    kept = values[values != 0]
    np.testing.assert_allclose(kept, 1 / (1 - p), rtol=1e-12)  # scaled by 1 / (1 - p)
    # expectation preserved: E[out] = 1, sd of the mean sqrt(p / (1 - p) / n)
    assert abs(values.mean() - 1.0) <= 5 * math.sqrt(p / (1 - p) / n)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)  # the gradient is the mask


def test_dropout_is_the_identity_in_eval_mode():
    x = tg.randn(50, 20)
    drop = Dropout(0.5)
    assert drop.eval() is drop
    out = drop(x)
    np.testing.assert_array_equal(out.numpy(), x.numpy())


def test_dropout_with_p_one_is_the_identity_in_eval_mode():
    x = tg.randn(4, 3)
    drop = Dropout(1.0)
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


def test_dropout_p_zero_is_the_identity_and_p_one_zeroes():
    x = tg.randn(30, 7, requires_grad=True)
    np.testing.assert_array_equal(Dropout(0.0)(x).numpy(), x.numpy())
    out = Dropout(1.0)(x)
    np.testing.assert_array_equal(out.numpy(), np.zeros((30, 7)))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((30, 7)))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_invalid_probability(p):
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(p)
    with pytest.raises(ValueError, match="p must be in"):
        F.dropout(tg.ones(3), p)


def test_dropout_is_reproducible_under_manual_seed():
    x = tg.ones(1000)
    drop = Dropout(0.5)
    tg.manual_seed(7)
    first = drop(x).numpy()
    second = drop(x).numpy()
    tg.manual_seed(7)
    np.testing.assert_array_equal(drop(x).numpy(), first)
    np.testing.assert_array_equal(drop(x).numpy(), second)
    assert not np.array_equal(first, second)


def test_functional_dropout_takes_its_mode_explicitly():
    """F.dropout knows no mode (PyTorch's default training=True): a model in eval mode does not
    change what a direct call does."""
    x = tg.ones(1000)
    Dropout(0.5).eval()
    assert (F.dropout(x, 0.5).numpy() == 0).any()
    assert (F.dropout(x, 0.5, training=True).numpy() == 0).any()
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())


def test_dropout_on_device(device):
    tg.manual_seed(3)
    out = Dropout(0.25)(tg.ones(20_000, device=device))
    assert out.device == backend.canonical_device(device)
    values = out.numpy()
    assert abs(np.mean(values == 0) - 0.25) < 5 * math.sqrt(0.25 * 0.75 / 20_000)
    np.testing.assert_allclose(values[values != 0], 1 / 0.75, rtol=1e-6)


# ---------------------------------------------------------------- LayerNorm

def layer_norm_reference(x, normalized_ndim, weight, bias, eps):
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)  # biased
    out = (x - mean) / np.sqrt(var + eps)
    return out * weight + bias if weight is not None else out


@st.composite
def norm_shapes(draw, min_side=1):
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    normalized = draw(st.lists(st.integers(min_side, 4), min_size=1, max_size=2))
    return tuple(lead), tuple(normalized)


@given(shapes=norm_shapes(), eps=st.sampled_from([1e-5, 1e-3, 0.5]), seed=SEEDS)
def test_layer_norm_matches_numpy_reference(shapes, eps, seed):
    lead, normalized = shapes
    rng = np.random.default_rng(seed)
    norm = LayerNorm(normalized, eps=eps).double()
    set_parameters(norm, rng)
    x = randn(rng, *lead, *normalized) * 3.0 + 1.0
    expected = layer_norm_reference(x.numpy(), len(normalized), norm.weight.numpy(),
                                    norm.bias.numpy(), eps)
    out = norm(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-10)
    functional = F.layer_norm(x, normalized, norm.weight, norm.bias, eps)
    np.testing.assert_array_equal(functional.numpy(), out.numpy())


@given(shapes=norm_shapes(min_side=2), seed=SEEDS)
def test_layer_norm_gradcheck_float64(shapes, seed):
    lead, normalized = shapes
    rng = np.random.default_rng(seed)
    norm = LayerNorm(normalized).double()
    set_parameters(norm, rng)
    assert gradcheck_module(lambda x: norm(x), norm, randn(rng, *lead, *normalized), seed=seed)


def test_layer_norm_starts_as_plain_normalisation():
    norm = LayerNorm(8)
    assert norm.normalized_shape == (8,)
    np.testing.assert_array_equal(norm.weight.numpy(), np.ones(8))
    np.testing.assert_array_equal(norm.bias.numpy(), np.zeros(8))
    out = norm(tg.randn(5, 8) * 4.0 + 2.0).numpy()
    np.testing.assert_allclose(out.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=-1), 1.0, rtol=1e-3)


def test_layer_norm_int_and_tuple_shapes_agree():
    x = tg.randn(2, 3, 4)
    assert LayerNorm(4).normalized_shape == LayerNorm((4,)).normalized_shape == (4,)
    np.testing.assert_array_equal(LayerNorm(4)(x).numpy(), LayerNorm((4,))(x).numpy())
    norm = LayerNorm([3, 4])
    assert norm.normalized_shape == (3, 4) and norm.weight.shape == (3, 4)
    expected = layer_norm_reference(x.numpy().astype(np.float64), 2, None, None, 1e-5)
    np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_layer_norm_without_affine_has_no_parameters():
    norm = LayerNorm((2, 3), elementwise_affine=False)
    assert list(norm.parameters()) == [] and norm.weight is None and norm.bias is None
    x = tg.randn(4, 2, 3, dtype="float64")
    expected = layer_norm_reference(x.numpy(), 2, None, None, 1e-5)
    np.testing.assert_allclose(norm(x).numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 5), (4,), (4, 2)])
def test_layer_norm_wrong_trailing_shape(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape)) + ".*" + re.escape("(2, 4)")):
        LayerNorm((2, 4))(tg.randn(*shape))


def test_layer_norm_on_device(device):
    norm = LayerNorm(6).to(device)
    x = tg.randn(3, 6, device=device)
    out = norm(x)
    assert out.device == backend.canonical_device(device)
    expected = layer_norm_reference(x.numpy().astype(np.float64), 1, None, None, 1e-5)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- activations

@pytest.mark.parametrize("module, reference", [
    (Tanh(), np.tanh),
    (ReLU(), lambda a: np.maximum(a, 0.0)),
    (Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
])
def test_activation_modules_match_numpy(module, reference):
    x = tg.tensor(np.linspace(-4, 4, 17), dtype="float64")
    np.testing.assert_allclose(module(x).numpy(), reference(x.numpy()), rtol=1e-12, atol=1e-15)
    assert list(module.parameters()) == []
