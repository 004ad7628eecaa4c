"""Losses: cross-entropy and NLL over a last class axis, mean squared error, binary cross-entropy
from logits, sampled softmax.

Every loss is a composition of primitive ops, so its gradient comes from the graph. The class
axis is the LAST one: a sequence model's outputs are (T, B, C) and go in as they are.

>>> import tinygrad_seq as tg
>>> F = tg.nn.functional
>>> logits = tg.zeros(5, 2, 3)                      # (T, B, C)
>>> target = tg.tensor([[0, 1]] * 5)                # (T, B)
>>> round(F.cross_entropy(logits, target).item(), 4)   # log(3)
1.0986
"""
import math

from .. import backend, creation, ops
from ..tensor import Tensor

_REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------- checking arguments

def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_scores(scores, op, what):
    if not isinstance(scores, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(scores).__name__}")
    if scores.dtype.kind != "f":
        raise TypeError(f"{op}: {what} must be floating point, got {scores.dtype}")
    if scores.ndim == 0:
        raise ValueError(f"{op}: {what} need a class axis (the last one), got a 0-d tensor")


def _as_tensor(value, like, op, what, dtype=None):
    """``value`` as a tensor on ``like``'s device (a Tensor on another device is an error)."""
    if not isinstance(value, Tensor):
        return Tensor(value, dtype=dtype, device=like.device)
    if value.device != like.device:
        raise RuntimeError(f"{op}: {what} is on {value.device!r} but the input is on "
                           f"{like.device!r}; move them to one device with .to(device)")
    return value


def _check_target(target, shape, num_classes, ignore_index, like, op):
    """Integer class indices of ``shape``, each in [0, num_classes) or equal to ignore_index."""
    target = _as_tensor(target, like, op, "target")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, got {target.dtype}")
    if target.shape != tuple(shape):
        raise ValueError(f"{op}: target of shape {target.shape} does not match the input's "
                         f"shape without its class axis, {tuple(shape)}")
    data = target.data
    with backend.on(target.device):  # the check reads the target where it lives
        bad = (data < 0) | (data >= num_classes)
        if ignore_index is not None:
            bad &= data != ignore_index
        value = int(data[bad].reshape(-1)[0]) if bad.any() else None
    if value is not None:
        allowed = f"0 <= target < {num_classes}"
        if ignore_index is not None:
            allowed += f", or ignore_index={ignore_index}"
        raise IndexError(f"{op}: target value {value} is out of range for {num_classes} classes "
                         f"(expected {allowed})")
    return target


def _check_weight(weight, shape, like, op, name="weight"):
    """Per-token weights of ``shape`` in ``like``'s float dtype (a bool mask works too)."""
    weight = _as_tensor(weight, like, op, name, dtype=like.dtype)
    if weight.shape != tuple(shape):
        raise ValueError(f"{op}: {name} of shape {weight.shape} must have the target's shape "
                         f"{tuple(shape)} (one weight per token)")
    weight = weight if weight.dtype == like.dtype else weight.astype(like.dtype)
    data = weight.data
    with backend.on(weight.device):
        bad = ~(data >= 0) | (data == math.inf)   # negative, NaN or infinite
        value = float(data[bad].reshape(-1)[0]) if bad.any() else None
    if value is not None:
        raise ValueError(f"{op}: {name} must be finite and non-negative (a weighted mean with "
                         f"negative weights is no mean), got {value}")
    return weight


# ---------------------------------------------------------------- the shared core

def _kept_tokens(scores, target, weight, ignore_index):
    """The tokens that count (a bool tensor of target's shape), or None when all do.

    Dropped: targets equal to ``ignore_index``, and zero-weight tokens whose whole row of scores
    is -inf (padding that a model masks out entirely), whose loss is undefined."""
    keep = None if ignore_index is None else target != ignore_index
    if weight is not None:
        live = ops.where(weight != 0, True, scores.detach().max(-1) > -math.inf)
        keep = live if keep is None else ops.where(keep, live, False)
    return keep


def _token_losses(scores, target, weight, keep, normalise):
    """-log_softmax(scores) at the targets with ``normalise`` (one node), else -scores there,
    times the weights; (per-token losses, what "mean" divides by).

    A token outside ``keep`` contributes exactly 0 and no gradient."""
    if keep is not None:
        target = ops.where(keep, target, 0)  # any valid class: its pick is discarded below
    if normalise:
        losses = ops.softmax_cross_entropy(scores, target)
    else:
        losses = -ops.gather(scores, -1, target.unsqueeze(-1)).squeeze(-1)
    if keep is not None:
        losses = ops.where(keep, losses, 0.0)
    if weight is None:
        return losses, (target.size if keep is None else keep.astype(scores.dtype).sum())
    # 0 * inf would be NaN: a zero-weight token with an infinite loss (padding whose class a
    # model masks with a -inf logit) contributes 0. A finite loss is kept, so that
    # d(w * loss)/dw = loss holds at w = 0 too.
    usable = ops.where(weight != 0, True, losses < math.inf)
    losses = ops.where(usable, losses, 0.0) * weight
    return losses, (weight if keep is None else ops.where(keep, weight, 0.0)).sum()


def _reduce(losses, count, reduction):
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "sum":
        return total
    # Mean over real tokens; with none (all ignored, or an empty batch) the total is an exact 0
    # and so is the mean, with a zero gradient, where 0 / 0 would poison training with NaN.
    if isinstance(count, int):
        return total / max(count, 1)
    return total / ops.where(count > 0, count, 1.0)


# ---------------------------------------------------------------- public losses

def nll_loss(log_probs, target, weight=None, ignore_index=None, reduction="mean"):
    """Negative log-likelihood of integer targets under log-probabilities ``(..., C)``.

    Conventions as ``cross_entropy`` (class axis last, per-token ``weight``, ``ignore_index``,
    mean over real tokens, 0 when there are none); ``log_probs`` are e.g. ``log_softmax(logits)``.

    >>> import tinygrad_seq as tg
    >>> log_probs = tg.tensor([[0.0, -1.0], [-2.0, -3.0]])
    >>> tg.nn.functional.nll_loss(log_probs, tg.tensor([0, 1]), reduction="none").tolist()
    [-0.0, 3.0]
    """
    _check_scores(log_probs, "nll_loss", "log_probs")
    return _loss(log_probs, target, weight, ignore_index, reduction, "nll_loss", log_probs.shape)


def cross_entropy(logits, target, weight=None, ignore_index=None, reduction="mean"):
    """Softmax cross-entropy of integer targets, from unnormalised ``logits`` of shape ``(..., C)``.

    The class axis is the LAST one. This deliberately differs from PyTorch's ``(N, C, ...)``:
    sequence outputs are ``(T, B, C)`` and go in as they are, with targets of shape ``(T, B)``
    (``logits.shape[:-1]``). PyTorch's (N, C) is the same; its (N, C, d) is
    ``logits.swapaxes(1, 2)`` here.

    - ``weight``: one non-negative weight per token, of ``target``'s shape (the
      ``target_weights`` of TensorFlow's translation model, Géron 2017, ch. 14: 0 on padding, 1
      elsewhere; a bool mask works). This is NOT PyTorch's per-class weight; that one is
      ``weight=class_weight[target]`` here.
    - ``ignore_index``: tokens whose target equals it are dropped (``None``, the default: no
      such value; PyTorch's default -100 would silently drop a class of that index, here such
      a target is an error unless you ask for it).
      A dropped or zero-weight token contributes exactly 0 and no gradient to the logits (even
      where its log-probability is -inf, where 0 * inf would be NaN).
    - ``reduction``: ``"mean"`` is ``sum(w * loss) / sum(w)`` with ``w`` the weights of the kept
      tokens (1 without ``weight``), i.e. a mean over real tokens, not over padding; when there
      are none (all ignored, all weights 0, or no tokens) it is 0 with a zero gradient
      (PyTorch gives NaN). ``"sum"`` is ``sum(w * loss)``; ``"none"`` gives the
      per-token ``w * loss`` of ``target``'s shape, 0 on dropped tokens.

    Targets outside [0, C) (other than ``ignore_index``) raise an IndexError naming the value.
    Computed as one node per token (``tg.softmax_cross_entropy``: the value of
    ``nll_loss(log_softmax(logits))``), finite for any finite logits.

    >>> import tinygrad_seq as tg
    >>> logits = tg.tensor([[[1000.0, -1000.0]], [[0.0, 0.0]]])      # (T=2, B=1, C=2)
    >>> target = tg.tensor([[1], [-100]])
    >>> tg.nn.functional.cross_entropy(logits, target, ignore_index=-100).item()
    2000.0
    """
    _check_scores(logits, "cross_entropy", "logits")
    return _loss(logits, target, weight, ignore_index, reduction, "cross_entropy", logits.shape,
                 normalise=True)


def _loss(scores, target, weight, ignore_index, reduction, op, shape, normalise=False):
    _check_reduction(reduction, op)
    token_shape, num_classes = shape[:-1], shape[-1]
    target = _check_target(target, token_shape, num_classes, ignore_index, scores, op)
    if weight is not None:
        weight = _check_weight(weight, token_shape, scores, op)
    keep = _kept_tokens(scores, target, weight, ignore_index)
    if normalise and keep is not None:
        # a dropped row may be all -inf (fully masked): its log_softmax is NaN, and NaN times
        # the zero gradient that the mask sends back is still NaN. Normalise zeros there.
        scores = ops.where(keep.unsqueeze(-1), scores, 0.0)
    losses, count = _token_losses(scores, target, weight, keep, normalise)
    return _reduce(losses, count, reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target) ** 2``, reduced by ``"mean"``, ``"sum"`` or ``"none"``.

    ``input`` and ``target`` must have the same shape: no broadcasting (PyTorch only warns, and a
    (B, 1) against (B,) silently becomes (B, B)).

    >>> import tinygrad_seq as tg
    >>> tg.nn.functional.mse_loss(tg.tensor([1.0, 2.0]), tg.tensor([1.0, 4.0])).item()
    2.0
    """
    _check_reduction(reduction, "mse_loss")
    if not isinstance(input, Tensor):
        raise TypeError(f"mse_loss: input must be a Tensor, got {type(input).__name__}")
    target = _as_tensor(target, input, "mse_loss", "target",
                        dtype=input.dtype if input.dtype.kind == "f" else None)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input of shape {input.shape} and target of shape "
                         f"{target.shape} differ; they must be equal (no broadcasting)")
    diff = input - target
    squared = diff * diff
    if reduction == "none":
        return squared
    return squared.sum() if reduction == "sum" else squared.mean()


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Binary cross-entropy of probabilities ``target`` under ``sigmoid(input)``, from the logits
    without overflow (PyTorch's ``binary_cross_entropy_with_logits``): per element
    ``(1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x)``, times ``weight``.

    ``weight`` rescales each element and ``pos_weight`` the positive term (one per class, along
    the last axis); both broadcast to the input's shape. ``"mean"`` averages over all elements
    (as PyTorch: not over the weights' sum). ``input`` and ``target`` must have the same shape.

    >>> import tinygrad_seq as tg
    >>> F = tg.nn.functional
    >>> round(F.binary_cross_entropy_with_logits(tg.zeros(2), tg.tensor([0.0, 1.0])).item(), 4)
    0.6931
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: input must hold floating-point logits, got {input.dtype}")
    target = _as_tensor(target, input, op, "target")
    if target.dtype.kind != "f":
        raise TypeError(f"{op}: target must hold floating-point probabilities, got "
                        f"{target.dtype}; convert it with .astype(...)")
    if target.shape != input.shape:
        raise ValueError(f"{op}: target of shape {target.shape} and input of shape "
                         f"{input.shape} differ; they must be equal")
    target = target if target.dtype == input.dtype else target.astype(input.dtype)
    # softplus(-x) = log(1 + exp(-x)) as a logsumexp: no overflow, and a gradient without kinks
    zero = creation.zeros_like(input)
    softplus = ops.logsumexp(ops.stack([zero, -input], axis=-1), axis=-1)
    positive = 1.0
    if pos_weight is not None:
        pos_weight = _broadcast_weight(pos_weight, input, op, "pos_weight")
        positive = (pos_weight - 1.0) * target + 1.0
    losses = (1.0 - target) * input + positive * softplus
    if weight is not None:
        losses = losses * _broadcast_weight(weight, input, op, "weight")
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.mean()


def _broadcast_weight(weight, input, op, name):
    weight = _as_tensor(weight, input, op, name, dtype=input.dtype)
    if weight.dtype != input.dtype:
        weight = weight.astype(input.dtype)
    shape = input.shape
    if weight.ndim > len(shape) or any(
            w not in (1, n) for w, n in zip(weight.shape[::-1], shape[::-1])):
        raise ValueError(f"{op}: {name} of shape {weight.shape} does not broadcast to the "
                         f"input's shape {shape}")
    return weight


# ---------------------------------------------------------------- sampled softmax

_SAMPLERS = ("log_uniform", "uniform")


def candidate_probabilities(sampler, classes, num_classes):
    """Q(c): the probability of drawing class ``c`` (an integer array) in one draw of ``sampler``.

    ``"uniform"``: 1 / C. ``"log_uniform"`` (Zipf, TensorFlow's default candidate sampler):
    ``log((c + 2) / (c + 1)) / log(C + 1)``, which favours small ids, so it suits vocabularies
    sorted by decreasing frequency.
    """
    device = backend.device_of_array(classes)
    xp = backend.get_device(device).xp
    with backend.on(device):
        if sampler == "uniform":
            return xp.full(classes.shape, 1.0 / num_classes)
        return xp.log1p(1.0 / (classes + 1.0)) / math.log(num_classes + 1)


def draw_candidates(sampler, num_sampled, num_classes, device="cpu"):
    """``num_sampled`` classes drawn WITH replacement from ``sampler``'s distribution Q, from the
    device's random stream (``tg.manual_seed``); returns (classes int64 (k,), expected counts
    ``k * Q(class)`` float64 (k,)), the arrays that ``sampled_values`` takes.

    >>> import tinygrad_seq as tg
    >>> from tinygrad_seq.nn.losses import draw_candidates
    >>> classes, counts = draw_candidates("uniform", 4, 10)
    >>> classes.shape, counts.tolist()
    ((4,), [0.4, 0.4, 0.4, 0.4])
    """
    if sampler not in _SAMPLERS:
        raise ValueError(f"draw_candidates: sampler must be one of {_SAMPLERS}, got {sampler!r}")
    dev = backend.get_device(device)
    with dev.activate():
        u = backend.generator(dev.name).uniform((num_sampled,), backend.float64)
        if sampler == "uniform":
            classes = (u * num_classes).astype(backend.int64)
        else:  # inverse CDF: P(class <= c) = log(c + 2) / log(C + 1)
            classes = dev.xp.floor(dev.xp.exp(u * math.log(num_classes + 1))).astype(backend.int64) - 1
        classes = dev.xp.minimum(classes, num_classes - 1)  # u * C rounding up to C
        expected = num_sampled * candidate_probabilities(sampler, classes, num_classes)
    return classes, expected


def sampled_softmax_loss(weight, bias, hidden, target, num_sampled, num_classes=None,
                         remove_accidental_hits=True, sampler="log_uniform", sampled_values=None,
                         target_weights=None, ignore_index=None, reduction="mean"):
    """Softmax cross-entropy over a large vocabulary, estimated from ``num_sampled`` classes.

    After TensorFlow's ``tf.nn.sampled_softmax_loss`` (Jean et al. 2015; Géron 2017, ch. 14):
    ``weight`` (C, H) and ``bias`` (C,) (or None) are the output projection, ``hidden`` (..., H)
    the inputs to it, ``target`` (...) integer classes. ``num_sampled`` classes c_1..c_k are drawn
    WITH replacement from a proposal Q (``sampler``: ``"log_uniform"``, TF's default, or
    ``"uniform"``), one set for the whole batch, from the device's random stream. Logits are
    computed for the target and the sampled classes only (no (N, C) matrix), each sampled logit
    is corrected by ``- log(k Q(c_j))`` (its expected count), sampled classes equal to the target
    ("accidental hits") are removed, and the loss is the cross-entropy over these 1 + k columns,
    with the target in column 0, reduced as ``cross_entropy`` does (``target_weights`` is its
    per-token ``weight``, renamed because ``weight`` here is the output embedding).

    What is exactly unbiased, and what is not: per token the loss is ``-s_y + log Z_hat`` with
    ``Z_hat = exp(s_y) + (1/k) sum_j [c_j != y] exp(s_cj) / Q(c_j)``. ``E[Z_hat] = Z``, the full
    partition function, for every k >= 1 (importance sampling); hence ``E[exp(loss)]`` and
    ``E[grad exp(loss)]`` equal the full ``exp(L)`` and ``grad exp(L)``. The loss itself is the
    log of an unbiased estimate: biased LOW (Jensen), consistent (-> the full loss as
    k -> infinity), with a bias of O(1/k) (delta method), and so is its gradient (a
    self-normalised importance-sampling estimate). Two choices make this hold, and the first
    differs from TF: the target's logit is NOT corrected by its expected count (TF subtracts
    log(k Q(y)) from it too, which makes ``Z_hat`` an estimate of
    ``exp(s_y) + k Q(y) (Z - exp(s_y))`` instead of Z: that loss grows with k); and accidental
    hits must be removed (with ``remove_accidental_hits=False`` the target is counted twice in
    expectation, ``E[Z_hat] = Z + exp(s_y)``).
    Use the full ``cross_entropy(F.linear(hidden, weight, bias), target)`` for evaluation.

    ``sampled_values=(classes, expected_counts)`` replaces the draw (e.g. from
    ``draw_candidates``); ``(arange(C), ones(C))`` enumerates every class once and gives the full
    loss exactly.

    >>> import tinygrad_seq as tg
    >>> weight, hidden = tg.randn(1000, 16), tg.randn(8, 16)
    >>> loss = tg.nn.functional.sampled_softmax_loss(weight, tg.zeros(1000), hidden,
    ...                                              tg.tensor([3] * 8), num_sampled=64)
    >>> loss.shape
    ()
    """
    op = "sampled_softmax_loss"
    _check_reduction(reduction, op)
    hidden_size = _check_output_layer(weight, bias, hidden, num_classes, op)
    num_classes = weight.shape[0]
    token_shape = hidden.shape[:-1]
    target = _check_target(target, token_shape, num_classes, ignore_index, hidden, op)
    if target_weights is not None:
        target_weights = _check_weight(target_weights, token_shape, hidden, op, "target_weights")
    if ignore_index is not None:
        keep = target != ignore_index
        target = ops.where(keep, target, 0)
        kept = keep.astype(hidden.dtype)
        target_weights = kept if target_weights is None else target_weights * kept
    if not isinstance(num_sampled, int) or isinstance(num_sampled, bool) or num_sampled < 1:
        raise ValueError(f"{op}: num_sampled must be a positive integer, got {num_sampled!r}")
    if sampled_values is None:
        sampled_values = draw_candidates(sampler, num_sampled, num_classes, hidden.device)
    classes, log_expected = _check_sampled_values(sampled_values, num_classes, hidden, op)
    if classes.size != num_sampled:
        raise ValueError(f"{op}: num_sampled={num_sampled} but sampled_values hold "
                         f"{classes.size} classes")

    flat_hidden, flat_target = hidden.reshape(-1, hidden_size), target.reshape(-1)
    true_logits = (flat_hidden * ops.take(weight, flat_target, axis=0)).sum(-1, keepdims=True)
    sampled_logits = flat_hidden @ ops.take(weight, classes, axis=0).T
    if bias is not None:
        true_logits = true_logits + ops.take(bias, flat_target, axis=0).unsqueeze(-1)
        sampled_logits = sampled_logits + ops.take(bias, classes, axis=0)
    sampled_logits = sampled_logits - log_expected
    if remove_accidental_hits:
        hits = flat_target.unsqueeze(-1) == classes
        sampled_logits = ops.where(hits, -math.inf, sampled_logits)
    columns = ops.concatenate([true_logits, sampled_logits], axis=-1)
    columns = columns.reshape(*token_shape, columns.shape[-1])
    in_column_0 = creation.zeros(*token_shape, dtype=backend.int64, device=hidden.device)
    return _loss(columns, in_column_0, target_weights, None, reduction, op, columns.shape,
                 normalise=True)


def _check_output_layer(weight, bias, hidden, num_classes, op):
    for name, t in (("weight", weight), ("hidden", hidden)):
        if not isinstance(t, Tensor) or t.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating-point Tensor")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight must be (num_classes, hidden_size), got shape {weight.shape}")
    if hidden.ndim == 0 or hidden.shape[-1] != weight.shape[1]:
        raise ValueError(f"{op}: hidden of shape {hidden.shape} must end with the weight's "
                         f"hidden_size; weight has shape {weight.shape} (num_classes, hidden_size)")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"{op}: bias of shape {bias.shape} must be ({weight.shape[0]},) for a "
                         f"weight of shape {weight.shape}")
    if num_classes is not None and num_classes != weight.shape[0]:
        raise ValueError(f"{op}: num_classes={num_classes} but the weight of shape {weight.shape} "
                         f"has {weight.shape[0]} classes")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.device != hidden.device:
            raise RuntimeError(f"{op}: {name} is on {t.device!r} but hidden is on {hidden.device!r}")
    return weight.shape[1]


def _check_sampled_values(sampled_values, num_classes, like, op):
    """(classes int64 (k,), log of the expected counts in ``like``'s dtype (k,)), checked."""
    classes, expected = sampled_values
    classes = _as_tensor(classes, like, op, "sampled classes")
    expected = _as_tensor(expected, like, op, "expected counts", dtype=backend.float64)
    if classes.ndim != 1 or classes.dtype.kind not in "iu" or expected.shape != classes.shape:
        raise ValueError(f"{op}: sampled_values must be integer classes (k,) and expected counts "
                         f"(k,), got {classes.dtype} {classes.shape} and {expected.shape}")
    _check_target(classes, classes.shape, num_classes, None, like, op + " (sampled classes)")
    with backend.on(like.device):
        if not bool((expected.data > 0).all()):
            raise ValueError(f"{op}: expected counts must be positive, got minimum "
                             f"{float(expected.data.min())}")
        log_expected = backend.xp_of(like.device).log(expected.data.astype(backend.float64))
    return classes, Tensor(log_expected, dtype=like.dtype, device=like.device)
