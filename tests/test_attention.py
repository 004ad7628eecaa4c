"""masked_softmax and the attention layers: NumPy references, finite differences, and the
property that padding is invisible (masked keys get exactly zero weight and zero gradient)."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.testing import assert_close, gradcheck, gradcheck_module
from strict import strict

F = tg.nn.functional


# ---------------------------------------------------------------- masked_softmax

def ref_masked_softmax(scores, mask):
    """Row by row over the last axis: a softmax of the kept entries, zeros elsewhere."""
    scores, mask = np.asarray(scores, np.float64), np.broadcast_to(mask, np.shape(scores))
    out = np.zeros(scores.shape)
    for index in np.ndindex(*scores.shape[:-1]):
        kept = mask[index]
        if kept.any():
            e = np.exp(scores[index][kept] - scores[index][kept].max())
            out[index + (kept,)] = e / e.sum()
    return out


@st.composite
def masked_scores(draw):
    batch, steps = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scores = rng.uniform(-5, 5, (batch, steps))
    mask = rng.random((batch, steps)) < draw(st.sampled_from([0.0, 0.5, 0.9]))
    # what hides under the mask must not matter, however extreme
    junk = rng.choice([1e30, -1e30, np.inf, -np.inf, np.nan], size=scores.shape)
    return np.where(mask, scores, junk), mask


@given(masked_scores())
def test_masked_softmax_matches_the_reference(case):
    scores, mask = case
    with strict():
        weights = F.masked_softmax(tg.tensor(scores, dtype="float64"), tg.tensor(mask)).numpy()
    np.testing.assert_allclose(weights, ref_masked_softmax(scores, mask), rtol=1e-12, atol=1e-15)
    assert (weights[~mask] == 0).all()
    np.testing.assert_allclose(weights.sum(-1), mask.any(-1).astype(float), rtol=1e-12)


def test_masked_softmax_gradient_is_finite_and_zero_where_masked():
    rng = np.random.default_rng(0)
    scores = tg.tensor(rng.standard_normal((3, 4)), dtype="float64")
    mask = tg.tensor([[True, True, False, True], [False] * 4, [True, False, False, False]])
    assert gradcheck(lambda s: F.masked_softmax(s, mask), scores)
    broadcast = tg.tensor([[[True, False, True, True]]])           # (1, 1, T) over (B, Tq, T)
    assert gradcheck(lambda s: F.masked_softmax(s, broadcast), tg.randn(2, 3, 4))
    leaf = tg.tensor(np.where(mask.numpy(), scores.numpy(), 1e30), requires_grad=True)
    with strict():
        F.masked_softmax(leaf, mask).backward(tg.tensor(rng.standard_normal((3, 4))))
    assert np.isfinite(leaf.grad.numpy()).all()
    assert (leaf.grad.numpy()[~mask.numpy()] == 0).all()            # the fully masked row too


def test_masked_softmax_without_mask_and_along_other_axes():
    scores = tg.randn(3, 4)
    # no mask is plain softmax: the same float32 exponentials and sums of 4 terms
    assert_close(F.masked_softmax(scores, None).numpy(), scores.softmax(-1).numpy(), terms=4)
    mask = np.random.default_rng(1).random((3, 4)) < 0.5
    along_0 = F.masked_softmax(scores, tg.tensor(mask), axis=0).numpy()
    np.testing.assert_allclose(along_0, ref_masked_softmax(scores.numpy().T, mask.T).T, rtol=1e-6)


def test_masked_softmax_records_in_a_compiled_scan_step():
    """A step that attends with masked_softmax (a fully masked row included) compiles, and its
    outputs and gradients equal the op-by-op graph's (float64)."""
    rng = np.random.default_rng(2)
    mask = tg.tensor(np.array([[True, True, False, True], [False] * 4, [True, False, True, False]]))
    key_values, input_values = rng.standard_normal((3, 4, 2)), rng.standard_normal((5, 3, 2))
    results = {}
    for engine in ("compiled", "graph"):
        keys = tg.tensor(key_values, dtype="float64", requires_grad=True)
        inputs = tg.tensor(input_values, dtype="float64", requires_grad=True)

        def step(query, x):
            weights = F.masked_softmax((keys @ query.unsqueeze(-1)).squeeze(-1), mask)
            query = (weights.unsqueeze(1) @ keys).squeeze(1) + x
            return query, weights

        _, weights = tg.scan(step, tg.zeros(3, 2, dtype="float64"), inputs, engine=engine)
        (weights * tg.tensor(np.arange(60.0).reshape(5, 3, 4), dtype="float64")).sum().backward()
        results[engine] = [weights.numpy(), keys.grad.numpy(), inputs.grad.numpy()]
    assert (results["graph"][0][:, 1] == 0).all() and (results["graph"][2] != 0).any()
    for actual, expected in zip(results["compiled"], results["graph"]):
        np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("mask, error, words", [
    (np.ones((2, 3)), TypeError, ["bool", "float"]),
    (np.ones((3, 2), bool), ValueError, ["(3, 2)", "(2, 3)"]),
])
def test_masked_softmax_errors(mask, error, words):
    with pytest.raises(error) as info:
        F.masked_softmax(tg.zeros(2, 3), mask)
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- the attention layers

KEY_SIZE, VALUE_SIZE = 4, 3
LAYERS = {  # kind -> (query_size, factory)
    "additive": (5, lambda: tg.nn.AdditiveAttention(5, KEY_SIZE, 6)),
    "dot": (KEY_SIZE, lambda: tg.nn.DotAttention()),
    "scaled_dot": (KEY_SIZE, lambda: tg.nn.DotAttention(scale=0.5)),
    "general": (5, lambda: tg.nn.GeneralAttention(5, KEY_SIZE)),
}


def ref_scores(kind, layer, query, keys):
    """(B, Tq, Tk) scores in NumPy from the layer's parameters, as the papers write them."""
    if kind == "additive":  # v . tanh(W_q q + W_k k)
        wq, wk = layer.query_proj.weight.numpy(), layer.key_proj.weight.numpy()
        energy = np.tanh((query @ wq.T)[:, :, None, :] + (keys @ wk.T)[:, None, :, :])
        return energy @ layer.v.numpy()
    if kind == "general":  # q . W k
        return np.einsum("bqh,hk,btk->bqt", query, layer.key_proj.weight.numpy(), keys)
    scale = 1.0 if layer.scale is None else layer.scale
    return scale * np.einsum("bqh,bth->bqt", query, keys)


def batch(kind, steps=7, query_steps=2, lengths=(7, 3, 0), seed=0):
    """float64 (query (B, Tq, Hq), keys (B, Tk, Hk), values (B, Tk, Hv), mask (B, Tk)); a
    length-0 row has no real key at all."""
    rng = np.random.default_rng(seed)
    size = len(lengths)
    query = rng.standard_normal((size, query_steps, LAYERS[kind][0]))
    keys = rng.standard_normal((size, steps, KEY_SIZE))
    values = rng.standard_normal((size, steps, VALUE_SIZE))
    mask = np.arange(steps) < np.array(lengths)[:, None]
    return query, keys, values, mask


def tensors(*arrays):
    return [tg.tensor(a, dtype="float64" if a.dtype.kind == "f" else None) for a in arrays]


@pytest.mark.parametrize("kind", LAYERS)
def test_weights_and_context_match_the_reference(kind):
    layer = LAYERS[kind][1]().double()
    query, keys, values, mask = batch(kind)
    context, weights = layer(*tensors(query, keys, values, mask))
    expected = ref_masked_softmax(ref_scores(kind, layer, query, keys), mask[:, None, :])
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(context.numpy(), expected @ values, rtol=1e-12, atol=1e-14)
    w = weights.numpy()
    assert (w[~np.broadcast_to(mask[:, None, :], w.shape)] == 0).all()
    np.testing.assert_allclose(w.sum(-1), np.broadcast_to(mask.any(-1)[:, None], w.shape[:2]),
                               rtol=1e-12)


@pytest.mark.parametrize("kind", LAYERS)
def test_one_query_step_equals_a_sequence_of_one(kind):
    layer = LAYERS[kind][1]().double()
    query, keys, values, mask = tensors(*batch(kind))
    context, weights = layer(query[:, 1], keys, values, mask)
    many_context, many_weights = layer(query, keys, values, mask)
    assert context.shape == (3, VALUE_SIZE) and weights.shape == (3, 7)
    np.testing.assert_allclose(context.numpy(), many_context.numpy()[:, 1], rtol=1e-12)
    np.testing.assert_allclose(weights.numpy(), many_weights.numpy()[:, 1], rtol=1e-12)
    # values default to the keys
    np.testing.assert_allclose(layer(query, keys, mask=mask)[0].numpy(),
                               many_weights.numpy() @ keys.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", LAYERS)
def test_gradients_match_finite_differences(kind):
    layer = LAYERS[kind][1]().double()
    query, keys, values, mask = tensors(*batch(kind, steps=4, lengths=(4, 2, 0)))
    assert gradcheck_module(lambda q, k, v: layer(q, k, v, mask), layer, query, keys, values)
    assert gradcheck_module(lambda q, k: layer(q, k, mask=mask), layer, query[:, 0], keys)


@pytest.mark.parametrize("kind", LAYERS)
@given(extra=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_padding_with_masked_keys_changes_nothing(kind, extra, seed):
    layer = LAYERS[kind][1]().double()
    query, keys, values, mask = batch(kind, steps=4, lengths=(4, 2, 1), seed=seed)
    junk = np.random.default_rng(seed).standard_normal((3, extra, KEY_SIZE + VALUE_SIZE)) * 100
    padded = tensors(query, np.concatenate([keys, junk[..., :KEY_SIZE]], 1),
                     np.concatenate([values, junk[..., KEY_SIZE:]], 1),
                     np.concatenate([mask, np.zeros((3, extra), bool)], 1))
    padded[1].requires_grad_()
    padded[2].requires_grad_()
    context, weights = layer(*tensors(query, keys, values, mask))
    padded_context, padded_weights = layer(*padded)
    np.testing.assert_allclose(padded_context.numpy(), context.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(padded_weights.numpy()[..., :4], weights.numpy(), rtol=1e-12)
    assert (padded_weights.numpy()[..., 4:] == 0).all()
    grads = tg.grad(padded_context.sum(), padded[1:3])
    for g in grads:  # nothing flows into the padding
        assert (g.numpy()[:, 4:] == 0).all()


@pytest.mark.parametrize("kind", LAYERS)
def test_float32_on_every_device_equals_a_float64_reference(kind, device):
    """The float32 layer on ``device``: its outputs against the NumPy reference in float64, its
    gradients against the same weights in float64 on the CPU (held to finite differences above)."""
    layer = LAYERS[kind][1]()
    reference = LAYERS[kind][1]()
    reference.load_state_dict(layer.state_dict())
    reference.double()  # the same float32 weights, worked in float64 on the CPU
    arrays = batch(kind)
    query, keys, values, mask = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in arrays]
    rng = np.random.default_rng(1)
    upstream = [rng.standard_normal((3, 2, VALUE_SIZE)), rng.standard_normal((3, 2, 7))]

    def run(module, where, dtype):
        inputs = [tg.tensor(a, dtype=dtype if a.dtype.kind == "f" else None, device=where,
                            requires_grad=a.dtype.kind == "f") for a in (query, keys, values, mask)]
        outputs = module(*inputs)
        sum((out * tg.tensor(g, dtype=dtype, device=where)).sum()
            for out, g in zip(outputs, upstream)).backward()
        grads = [t.grad for t in inputs[:3]] + [p.grad for p in module.parameters()]
        return outputs, grads

    outputs, grads = run(layer.to(device), device, "float32")
    _, expected_grads = run(reference, "cpu", "float64")
    scores = ref_scores(kind, reference, *[a.astype(np.float64) for a in (query, keys)])
    weights = ref_masked_softmax(scores, mask[:, None, :])
    # the longest chain of rounded operations: the projections (query and key sizes), the score
    # (6 terms for the additive one), the softmax over the 7 keys and the weighted sum over
    # them; rounding a score of size |s| moves its weight by about |s| times as much
    check = dict(terms=LAYERS[kind][0] + KEY_SIZE + 6 + 7 + 7,
                 scale=max(1.0, float(np.abs(scores).max())))
    for name, got, want in [("context", outputs[0], weights @ values),
                            ("weights", outputs[1], weights)]:
        assert got.device == tg.tensor(0, device=device).device and got.dtype == np.float32
        assert_close(got.numpy(), want, err_msg=name, **check)
    assert len(grads) == len(expected_grads)
    for number, (got, want) in enumerate(zip(grads, expected_grads)):
        assert got.device == tg.tensor(0, device=device).device and got.dtype == np.float32
        assert_close(got.numpy(), want.numpy(), err_msg=f"gradient {number}", **check)


@pytest.mark.parametrize("kind, call, words", [
    ("additive", lambda layer, q, k, v, m: layer(q[:, :, :4], k), ["(3, 2, 4)", "query_size=5"]),
    ("general", lambda layer, q, k, v, m: layer(q, k[..., :3]), ["(3, 7, 3)", "key_size=4"]),
    ("dot", lambda layer, q, k, v, m: layer(q[..., :3], k), ["(3, 2, 3)", "(3, 7, 4)"]),
    ("dot", lambda layer, q, k, v, m: layer(q[:2], k), ["(2, 2, 4)", "(3, 7, 4)"]),
    ("dot", lambda layer, q, k, v, m: layer(q, k, v[:, :5]), ["(3, 5, 3)", "(3, 7, 4)"]),
    ("dot", lambda layer, q, k, v, m: layer(q, k, v, m[:, :5]), ["(3, 5)", "(3, 7, 4)"]),
    ("dot", lambda layer, q, k, v, m: layer(q[:, 0, 0], k), ["(3,)"]),
    ("additive", lambda layer, q, k, v, m: layer(q, k[:, 0]), ["(3, 4)"]),
])
def test_errors_name_both_shapes(kind, call, words):
    layer = LAYERS[kind][1]()
    with pytest.raises(ValueError) as info:
        call(layer, *[tg.tensor(a) for a in batch(kind)])
    for word in words:
        assert word in str(info.value)
