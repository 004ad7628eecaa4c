"""Losses against NumPy references, finite differences and (when installed) PyTorch; the sampled
softmax against what it provably estimates, with tolerances taken from the standard error."""
import warnings
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.nn.losses import candidate_probabilities, draw_candidates
from tinygrad_seq.testing import gradcheck

F = tg.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


# ---------------------------------------------------------------- NumPy references

def ref_log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def ref_nll(log_probs, target, weight=None, ignore_index=None, reduction="mean"):
    """The documented definition, written out: w * (-log p[target]) over kept tokens."""
    target = np.asarray(target)
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    w = np.ones(target.shape) if weight is None else np.asarray(weight, dtype=np.float64)
    w = np.where(keep, w, 0.0)
    picked = np.take_along_axis(log_probs, np.where(keep, target, 0)[..., None], -1)[..., 0]
    losses = np.where(keep, -picked, 0.0) * w
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / w.sum() if w.sum() > 0 else 0.0


@st.composite
def classification(draw):
    """(logits (..., C), target, weight or None, ignore_index or None) in float64."""
    lead = draw(st.lists(st.integers(1, 4), min_size=0, max_size=2).map(tuple))
    classes = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    logits = rng.uniform(-5, 5, lead + (classes,))
    target = rng.integers(0, classes, lead)
    ignore_index = draw(st.sampled_from([None, -100, 0]))
    if ignore_index is not None:
        target = np.where(rng.random(lead) < 0.3, ignore_index, target)
    weight = None
    if draw(st.booleans()):
        weight = rng.choice([0.0, 0.5, 1.0, 2.0], size=lead)
    return logits, target, weight, ignore_index


@given(classification(), st.sampled_from(REDUCTIONS))
def test_cross_entropy_and_nll_match_the_reference(case, reduction):
    logits, target, weight, ignore_index = case
    expected = ref_nll(ref_log_softmax(logits), target, weight, ignore_index, reduction)
    x = tg.tensor(logits, dtype="float64")
    w = None if weight is None else tg.tensor(weight, dtype="float64")
    got = F.cross_entropy(x, tg.tensor(target), w, ignore_index, reduction)
    assert got.dtype == np.float64 and got.shape == np.shape(expected)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)
    # nll_loss on any log-probabilities (here unnormalised scores): the same definition
    got = F.nll_loss(x, tg.tensor(target), w, ignore_index, reduction)
    np.testing.assert_allclose(got.numpy(), ref_nll(logits, target, weight, ignore_index, reduction),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradients_match_finite_differences(reduction):
    rng = np.random.default_rng(0)
    logits = tg.tensor(rng.standard_normal((3, 2, 4)))
    target = tg.tensor([[0, 3], [-1, 2], [1, -1]])
    # positive weights: central differences at w = 0 would step into the negative weights that
    # cross_entropy refuses (the next test checks the gradient at w = 0 exactly)
    weight = tg.tensor([[1.0, 0.25], [2.0, 0.5], [0.75, 1.0]])
    assert gradcheck(lambda x, w: F.cross_entropy(x, target, w, -1, reduction), logits, weight)
    assert gradcheck(lambda x: F.nll_loss(x, target, None, -1, reduction), logits)
    assert gradcheck(lambda x, t: F.mse_loss(x, t, reduction), logits, tg.randn(3, 2, 4))


def test_weight_gradient_at_zero_weight_is_the_tokens_loss():
    """d(sum w * loss)/dw = loss, at w = 0 too (a padding token's weight still learns)."""
    rng = np.random.default_rng(1)
    logits = tg.tensor(rng.standard_normal((3, 2, 4)))
    target = tg.tensor([[0, 3], [-1, 2], [1, -1]])
    weight = tg.tensor([[1.0, 0.0], [2.0, 0.5], [0.0, 1.0]], dtype="float64", requires_grad=True)
    F.cross_entropy(logits, target, weight, -1, "sum").backward()
    expected = F.cross_entropy(logits, target, None, -1, "none").numpy()
    np.testing.assert_allclose(weight.grad.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("weight", [[1.0, -0.5], [float("nan"), 1.0], [1.0, float("inf")]])
def test_negative_or_non_finite_weights_are_refused(weight):
    """A negative weight made the "mean" negative; NaN or inf weights poison it."""
    with pytest.raises(ValueError, match="weight must be finite and non-negative"):
        F.cross_entropy(tg.zeros(2, 3), tg.tensor([0, 1]), weight=tg.tensor(weight))


@pytest.mark.parametrize("how", ["ignored", "zero_weight"])
def test_a_fully_masked_row_that_is_dropped_gives_finite_gradients(how):
    """A padding row masked wholly to -inf: its log_softmax is NaN, which used to reach the
    logits' gradient through the mask. Dropped rows give exactly 0 and no gradient."""
    rows = np.array([[0.5, 1.0, -2.0], [-np.inf] * 3, [2.0, -np.inf, 0.0]])
    logits = tg.tensor(rows, dtype="float64", requires_grad=True)
    if how == "ignored":
        loss = F.cross_entropy(logits, tg.tensor([1, -1, 0]), ignore_index=-1)
    else:
        loss = F.cross_entropy(logits, tg.tensor([1, 2, 0]), weight=tg.tensor([1.0, 0.0, 1.0]))
    loss.backward()
    kept = rows[[0, 2]]
    expected = -np.mean(ref_log_softmax(kept)[[0, 1], [1, 0]])
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    grad = logits.grad.numpy()
    assert np.isfinite(grad).all()
    np.testing.assert_array_equal(grad[1], 0.0)
    softmax = np.exp(ref_log_softmax(kept))
    np.testing.assert_allclose(grad[[0, 2]], (softmax - np.eye(3)[[1, 0]]) / 2, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_is_exact_and_finite_at_extreme_logits(device, dtype):
    rows = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, 1000.0], [-1000.0, 0.0, 1000.0]])
    target = np.array([1, 0, 2])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        logits = tg.tensor(rows, dtype=dtype, device=device, requires_grad=True)
        loss = F.cross_entropy(logits, tg.tensor(target, device=device), reduction="sum")
        loss.backward()
    assert loss.dtype == np.dtype(dtype)
    np.testing.assert_allclose(loss.item(), 2000.0 + np.log(3.0), rtol=1e-6)
    softmax = np.exp(ref_log_softmax(rows))
    expected_grad = softmax - np.eye(3)[target]
    np.testing.assert_allclose(logits.grad.numpy(), expected_grad, atol=1e-6)


def test_no_real_token_gives_zero_mean_and_zero_gradient():
    logits = tg.randn(4, 3, requires_grad=True)
    target = tg.tensor([-100] * 4)
    for loss in (F.cross_entropy(logits, target, ignore_index=-100),
                 F.cross_entropy(logits, tg.tensor([0, 1, 2, 0]), weight=tg.zeros(4))):
        assert loss.item() == 0.0
        (grad,) = tg.grad(loss, [logits])
        assert (grad.numpy() == 0).all()
    empty = F.cross_entropy(tg.zeros(0, 3, requires_grad=True), tg.tensor(np.zeros(0, np.int64)))
    assert empty.item() == 0.0


def test_a_zero_weight_drops_a_token_like_ignore_index():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 2, 6))
    target = rng.integers(0, 6, (5, 2))
    padding = np.array([[0, 0], [0, 0], [0, 1], [1, 1], [1, 1]], bool)  # (T, B): lengths 3, 2
    by_weight, by_index = (tg.tensor(logits, requires_grad=True) for _ in range(2))
    a = F.cross_entropy(by_weight, tg.tensor(target), weight=tg.tensor(~padding))  # bool mask
    b = F.cross_entropy(by_index, tg.tensor(np.where(padding, -100, target)), ignore_index=-100)
    a.backward()
    b.backward()
    np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)
    np.testing.assert_allclose(by_weight.grad.numpy(), by_index.grad.numpy(), atol=1e-7)
    assert (by_weight.grad.numpy()[padding] == 0).all()


def test_a_zero_weight_on_an_impossible_class_gives_no_nan():
    # a model that never predicts padding masks its logit with -inf; the padding target then has
    # log-probability -inf, and 0 * inf must not turn the loss into NaN
    logits = tg.tensor([[-np.inf, 1.0, 2.0], [-np.inf, 0.0, 0.0]], requires_grad=True)
    loss = F.cross_entropy(logits, tg.tensor([2, 0]), weight=tg.tensor([1.0, 0.0]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), -ref_log_softmax([1.0, 2.0])[1], rtol=1e-6)
    assert np.isfinite(logits.grad.numpy()[:, 1:]).all()
    assert (logits.grad.numpy()[1] == 0).all()


def test_sequence_layout_equals_the_flattened_batch():
    logits, target = tg.randn(5, 3, 7), tg.tensor(np.random.default_rng(2).integers(0, 7, (5, 3)))
    np.testing.assert_allclose(F.cross_entropy(logits, target).item(),
                               F.cross_entropy(logits.reshape(15, 7), target.reshape(15)).item(),
                               rtol=1e-6)


def test_mse_loss_matches_the_reference():
    x, t = np.random.default_rng(3).standard_normal((2, 4, 3))
    got = {r: F.mse_loss(tg.tensor(x, dtype="float64"), t, r).numpy() for r in REDUCTIONS}
    np.testing.assert_allclose(got["none"], (x - t) ** 2, rtol=1e-12)
    np.testing.assert_allclose(got["sum"], ((x - t) ** 2).sum(), rtol=1e-12)
    np.testing.assert_allclose(got["mean"], ((x - t) ** 2).mean(), rtol=1e-12)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, words", [
    (lambda: F.cross_entropy(tg.zeros(2, 5), tg.tensor([1, 5])), IndexError, ["5", "5 classes"]),
    (lambda: F.cross_entropy(tg.zeros(2, 5), tg.tensor([-1, 0])), IndexError, ["-1", "5 classes"]),
    (lambda: F.cross_entropy(tg.zeros(2, 5), tg.tensor([7, -100]), ignore_index=-100), IndexError,
     ["7", "ignore_index=-100"]),
    (lambda: F.nll_loss(tg.zeros(2, 5), tg.tensor([1.0, 0.0])), TypeError, ["integer", "float32"]),
    (lambda: F.cross_entropy(tg.zeros(3, 2, 5), tg.tensor([[1, 0, 2]])), ValueError,
     ["(1, 3)", "(3, 2)"]),
    (lambda: F.cross_entropy(tg.zeros(2, 5), tg.tensor([1, 0]), weight=tg.ones(3)), ValueError,
     ["(3,)", "(2,)"]),
    (lambda: F.cross_entropy(tg.zeros(2, 5), tg.tensor([1, 0]), reduction="avg"), ValueError,
     ["'avg'"]),
    (lambda: F.cross_entropy(tg.tensor(1.0), tg.tensor(0)), ValueError, ["0-d"]),
    (lambda: F.mse_loss(tg.zeros(4, 1), tg.zeros(4)), ValueError, ["(4, 1)", "(4,)"]),
])
def test_errors_name_what_was_wrong(call, error, words):
    with pytest.raises(error) as info:
        call()
    for word in words:
        assert word in str(info.value)


# ---------------------------------------------------------------- PyTorch

@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_matches_pytorch(reduction, torch):
    tF = torch.nn.functional
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((6, 3, 5))                      # (T, B, C)
    target = rng.integers(0, 5, (6, 3))
    target[rng.random((6, 3)) < 0.3] = -100
    class_weight = rng.uniform(0.5, 2.0, 5)

    x = tg.tensor(logits, dtype="float64", requires_grad=True)
    ours = F.cross_entropy(x, tg.tensor(target), ignore_index=-100, reduction=reduction)
    tx = torch.tensor(logits, requires_grad=True)
    theirs = tF.cross_entropy(tx.permute(0, 2, 1), torch.tensor(target), ignore_index=-100,
                              reduction=reduction)                # PyTorch: (T, C, B)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = rng.standard_normal(ours.shape)
    ours.backward(tg.tensor(upstream, dtype="float64"))
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)

    # PyTorch's per-class weight is a per-token weight of class_weight[target] here
    token_weight = class_weight[np.where(target == -100, 0, target)]
    log_probs = tg.tensor(ref_log_softmax(logits), dtype="float64")
    ours = F.nll_loss(log_probs, tg.tensor(target), tg.tensor(token_weight, dtype="float64"), -100,
                     reduction)
    theirs = tF.nll_loss(torch.tensor(ref_log_softmax(logits)).permute(0, 2, 1),
                         torch.tensor(target), torch.tensor(class_weight), ignore_index=-100,
                         reduction=reduction)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)

    a, b = rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(F.mse_loss(tg.tensor(a, dtype="float64"), b, reduction).numpy(),
                               tF.mse_loss(torch.tensor(a), torch.tensor(b), reduction=reduction),
                               rtol=1e-12)


# ---------------------------------------------------------------- sampled softmax

def output_layer(classes=50, hidden_size=4, tokens=6, seed=1):
    """A float64 output layer as if partly trained: logits spread over about +-2 and the targets'
    probabilities raised to 0.05-0.3 (so that mistakes about the target's own term show)."""
    rng = np.random.default_rng(seed)
    target = np.resize([0, 1, classes // 4, classes // 4, classes - 1, classes // 2], tokens)
    weight = tg.tensor(rng.standard_normal((classes, hidden_size)) * 0.5, dtype="float64")
    bias = rng.standard_normal(classes) * 0.5
    bias[target] += 2.5
    hidden = tg.tensor(rng.standard_normal((tokens, hidden_size)), dtype="float64")
    return weight, tg.tensor(bias, dtype="float64"), hidden, tg.tensor(target)


def full_losses(weight, bias, hidden, target):
    return F.cross_entropy(F.linear(hidden, weight, bias), target, reduction="none")


def z_critical(alpha, tests=1):
    """Two-sided normal critical value at family-wise level ``alpha`` over ``tests`` (Bonferroni)."""
    return NormalDist().inv_cdf(1 - alpha / (2 * tests))


def draws(layer, num_sampled, repeats, sampler, gradient=None):
    """``repeats`` independent sampled losses (reduction "none") and, flattened over (weight, bias,
    hidden), the gradient of sum_n loss_n (``gradient="plain"``) or of sum_n exp(loss_n - L_n)
    (``gradient="exp"``)."""
    weight, bias, hidden, target = layer
    full = full_losses(*layer).numpy()
    leaves = [t.detach().requires_grad_() for t in (weight, bias, hidden)]
    losses, gradients = [], []
    for _ in range(repeats):
        loss = F.sampled_softmax_loss(*leaves, target, num_sampled, sampler=sampler,
                                      reduction="none")
        losses.append(loss.numpy())
        if gradient is not None:
            upstream = np.exp(loss.numpy() - full) if gradient == "exp" else np.ones(loss.shape)
            grads = tg.grad(loss, leaves, grad_outputs=tg.tensor(upstream, dtype="float64"))
            gradients.append(np.concatenate([g.numpy().ravel() for g in grads]))
    return np.array(losses), np.array(gradients)


def full_gradient(layer):
    leaves = [t.detach().requires_grad_() for t in layer[:3]]
    grads = tg.grad(full_losses(*leaves, layer[3]).sum(), leaves)
    return np.concatenate([g.numpy().ravel() for g in grads])


@pytest.mark.parametrize("sampler", ["log_uniform", "uniform"])
def test_sampled_partition_function_and_its_gradient_are_unbiased(sampler):
    """The exact claim, for a small k: Z_hat = exp(s_y) + (1/k) sum_j [c_j != y] exp(s_cj)/Q(c_j)
    has E[Z_hat] = Z, so E[exp(loss_n - L_n)] = 1 and E[sum_n exp(loss_n - L_n) grad loss_n] =
    grad sum_n L_n (the gradient of exp(loss), rescaled). Each mean over R independent draws must
    lie within z standard errors, z at family-wise level 1e-3 (fixed seed: deterministic)."""
    tg.manual_seed(0)
    layer = output_layer()
    losses, gradients = draws(layer, 8, 1000, sampler, gradient="exp")
    ratio = np.exp(losses - full_losses(*layer).numpy()).mean(axis=1)  # i.i.d. over draws
    standard_error = ratio.std(ddof=1) / np.sqrt(len(ratio))
    assert abs(ratio.mean() - 1) <= z_critical(1e-3) * standard_error, (ratio.mean(), standard_error)

    full_grad = full_gradient(layer)
    # Components of rarely drawn classes are too skewed for a normal test at this R; fixed
    # random projections of the whole gradient average over classes and are close to normal.
    directions = np.random.default_rng(5).standard_normal((4, full_grad.size))
    projected = gradients @ directions.T
    standard_error = projected.std(axis=0, ddof=1) / np.sqrt(len(projected))
    z = (projected.mean(axis=0) - directions @ full_grad) / standard_error
    assert np.abs(z).max() <= z_critical(1e-3, tests=4), z


def squared_bias(samples, truth):
    """An unbiased estimate of |E[sample] - truth|^2 from i.i.d. rows (the mean's noise,
    trace(cov) / R, taken out), and its standard error (normal approximation)."""
    repeats = len(samples)
    gap, cov = samples.mean(axis=0) - truth, np.cov(samples.T)
    estimate = gap @ gap - np.trace(cov) / repeats
    return estimate, np.sqrt(4 * gap @ cov @ gap / repeats + 2 * (cov * cov).sum() / repeats ** 2)


def test_sampled_loss_is_biased_low_and_consistent():
    """What is NOT unbiased: the loss is log(Z_hat) - s_y, below the full loss in expectation
    (Jensen), with a bias and an error that shrink as num_sampled grows (O(1/k), O(1/sqrt(k)));
    the gradient's bias (self-normalised importance sampling) shrinks too."""
    tg.manual_seed(1)
    layer = output_layer()
    full, full_grad = full_losses(*layer).numpy(), full_gradient(layer)
    z = z_critical(1e-3, tests=9)
    bias, standard_error, error, gradient_bias = [], [], [], []
    for num_sampled in (4, 32, 256):
        losses, gradients = draws(layer, num_sampled, 1000, "log_uniform", gradient="plain")
        gap = (losses - full).mean(axis=1)
        bias.append(gap.mean())
        standard_error.append(gap.std(ddof=1) / np.sqrt(len(gap)))
        error.append(np.sqrt((gap ** 2).mean()))
        gradient_bias.append(squared_bias(gradients, full_grad))
        assert bias[-1] <= z * standard_error[-1], (num_sampled, bias[-1], standard_error[-1])
    # visibly biased at k = 4: the loss low, the gradient off
    assert bias[0] + z * standard_error[0] < 0, (bias, standard_error)
    assert gradient_bias[0][0] > z * gradient_bias[0][1], gradient_bias
    for i in range(2):
        assert bias[i] + z * np.hypot(standard_error[i], standard_error[i + 1]) < bias[i + 1], bias
        (now, now_se), (then, then_se) = gradient_bias[i], gradient_bias[i + 1]
        assert then + z * np.hypot(now_se, then_se) < now, gradient_bias
        assert error[i + 1] < error[i] / 2, error  # 8 times the samples: sqrt(8) ~ 2.8 less error


def test_enumerating_every_class_once_gives_the_full_loss_exactly():
    weight, bias, hidden, target = output_layer(classes=7, tokens=5)
    classes = np.arange(7)
    target_weights = tg.tensor([1.0, 0.0, 2.0, 1.0, 1.0])
    for reduction in REDUCTIONS:
        got = F.sampled_softmax_loss(weight, bias, hidden, target, 7, reduction=reduction,
                                     sampled_values=(classes, np.ones(7)),
                                     target_weights=target_weights)
        expected = F.cross_entropy(F.linear(hidden, weight, bias), target, target_weights,
                                   reduction=reduction)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-13, atol=1e-13)
    leaves = [t.detach().requires_grad_() for t in (weight, bias, hidden)]
    sampled = tg.grad(F.sampled_softmax_loss(*leaves, target, 7, sampled_values=(classes, np.ones(7))),
                      leaves)
    full = tg.grad(F.cross_entropy(F.linear(leaves[2], leaves[0], leaves[1]), target), leaves)
    for a, b in zip(sampled, full):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("remove_accidental_hits", [True, False])
def test_sampled_loss_matches_the_reference_for_given_samples(remove_accidental_hits):
    weight, bias, hidden, target = output_layer(classes=9, tokens=4)
    classes, counts = np.array([1, 7, 7, 3, 0]), np.array([0.5, 2.0, 2.0, 1.5, 0.25])
    got = F.sampled_softmax_loss(weight, bias, hidden, target, 5, reduction="none",
                                 sampled_values=(classes, counts),
                                 remove_accidental_hits=remove_accidental_hits).numpy()
    logits = hidden.numpy() @ weight.numpy().T + bias.numpy()
    y = target.numpy()
    true_logit = logits[np.arange(4), y]
    sampled = logits[:, classes] - np.log(counts)
    if remove_accidental_hits:
        sampled = np.where(classes == y[:, None], -np.inf, sampled)
    columns = np.concatenate([true_logit[:, None], sampled], axis=1)
    np.testing.assert_allclose(got, -ref_log_softmax(columns)[:, 0], rtol=1e-12)


def test_sampled_loss_gradcheck_with_a_fixed_draw():
    weight, bias, hidden, target = output_layer(classes=12, hidden_size=3, tokens=4)

    def loss(weight, bias, hidden):
        tg.manual_seed(3)  # every evaluation draws the same classes
        return F.sampled_softmax_loss(weight, bias, hidden, target, 6)

    assert gradcheck(loss, weight, bias, hidden)


def test_sampled_loss_draws_from_the_device_stream(device):
    layer = [t.to(device) for t in output_layer(classes=30)]
    tg.manual_seed(7)
    a = F.sampled_softmax_loss(*layer, 5).item()
    b = F.sampled_softmax_loss(*layer, 5).item()
    tg.manual_seed(7)
    assert F.sampled_softmax_loss(*layer, 5).item() == a != b


def test_sampled_loss_keeps_leading_axes_and_ignores_tokens():
    weight, bias, hidden, target = output_layer(classes=20, tokens=6)
    target = tg.tensor([[3, -1], [5, 19], [-1, 0]])                       # (T, B)
    hidden = hidden.reshape(3, 2, 4)
    tg.manual_seed(2)
    per_token = F.sampled_softmax_loss(weight, bias, hidden, target, 8, ignore_index=-1,
                                       reduction="none")
    tg.manual_seed(2)
    mean = F.sampled_softmax_loss(weight, bias, hidden, target, 8, ignore_index=-1)
    assert per_token.shape == (3, 2)
    assert per_token.numpy()[0, 1] == per_token.numpy()[2, 0] == 0.0
    np.testing.assert_allclose(mean.item(), per_token.numpy().sum() / 4, rtol=1e-12)


@pytest.mark.parametrize("sampler", ["log_uniform", "uniform"])
def test_candidate_draws_follow_their_probabilities(sampler):
    tg.manual_seed(0)
    draws_, classes = 20000, 10
    sample, counts = draw_candidates(sampler, draws_, classes)
    q = candidate_probabilities(sampler, np.arange(classes), classes)
    np.testing.assert_allclose(q.sum(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(counts, draws_ * q[sample], rtol=1e-12)
    observed = np.bincount(sample, minlength=classes)
    z = (observed - draws_ * q) / np.sqrt(draws_ * q * (1 - q))
    assert np.abs(z).max() <= z_critical(1e-3, tests=classes), z


@pytest.mark.parametrize("call, words", [
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h[:, :3], t, 4), ["(6, 3)", "(50, 4)"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b[:5], h, t, 4), ["(5,)", "(50, 4)"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h, t, 4, num_classes=40), ["40", "50"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h, t, 0), ["num_sampled", "0"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h, t, 4, sampler="zipf"), ["'zipf'"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h, t + 50, 4), ["50 classes"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h, t, 2, sampled_values=([1, 60], [1.0, 1.0])),
     ["60", "50 classes"]),
    (lambda w, b, h, t: F.sampled_softmax_loss(w, b, h, t, 3, sampled_values=([1, 2], [1.0, 1.0])),
     ["num_sampled=3", "2 classes"]),
])
def test_sampled_loss_errors(call, words):
    with pytest.raises((ValueError, IndexError)) as info:
        call(*output_layer())
    for word in words:
        assert word in str(info.value)
