"""Analytic gradients against central differences, in float64."""
import numpy as np

from .. import backend
from ..autograd import grad as autograd_grad, no_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """A gradient that disagrees with finite differences; the message shows the worst element."""


def as_outputs(out):
    """An op's result as a tuple of outputs (one for a single tensor)."""
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _objective(fn, arrays, template, upstream):
    """sum_i <fn(inputs)_i, upstream_i> as a float, for inputs made from ``arrays``."""
    inputs = [Tensor._make(a, t.device, None, 0) if isinstance(t, Tensor) else t
              for a, t in zip(arrays, template)]
    with no_grad():
        outs = as_outputs(fn(*inputs))
    return sum(float((o.data * u).sum()) for o, u in zip(outs, upstream))


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=64, directions=8, seed=0):
    """Check ``fn``'s gradients with respect to its floating-point tensor inputs.

    The inputs are copied to float64; ``fn`` must return a tensor or a tuple of tensors. A random
    upstream gradient ``u`` (one per output) turns the outputs into the scalar <fn(x), u>; its
    analytic gradient (from backward) is compared with central differences, element by element
    for inputs of at most ``max_elements`` elements and along ``directions`` random unit
    directions for larger ones. Passes when ``|analytic - numeric| <= atol + rtol * |numeric|``
    everywhere; otherwise raises ``GradcheckError`` naming the input, the worst element, both
    values and their difference. Returns True.

    >>> import tinygrad_seq as tg
    >>> from tinygrad_seq.testing import gradcheck
    >>> gradcheck(lambda x, y: (x * y).tanh(), tg.randn(3, 4), tg.randn(4))
    True
    """
    with backend.on(_device_of(inputs)):  # every array of the check on the inputs' device
        return _gradcheck(fn, inputs, eps, atol, rtol, max_elements, directions, seed)


def _device_of(tensors):
    """The device of the first tensor among ``tensors`` ("cpu" without one)."""
    return next((t.device for t in tensors if isinstance(t, Tensor)), "cpu")


def _gradcheck(fn, inputs, eps, atol, rtol, max_elements, directions, seed):
    rng = np.random.default_rng(seed)
    template, diff = [], []
    for k, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            x = Tensor._make(x.data.astype(backend.float64), x.device, None, 0).requires_grad_()
            diff.append(k)
        template.append(x)
    if not diff:
        raise ValueError("gradcheck: no floating-point tensor among the inputs")
    outs = as_outputs(fn(*template))
    upstream = []
    for o in outs:
        if o.dtype != backend.float64:
            raise ValueError(f"gradcheck: fn returned a {o.dtype} output from float64 inputs; "
                             f"the check needs float64 throughout")
        xp = backend.xp_of(o.device)
        upstream.append(xp.asarray(rng.standard_normal(o.shape)))
    used = [o for o in outs if o.requires_grad]
    if not used:
        raise GradcheckError("gradcheck: no output depends on the inputs (nothing requires grad)")
    analytic = autograd_grad(used, [template[k] for k in diff],
                             grad_outputs=[Tensor._make(u, o.device, None, 0)
                                           for o, u in zip(outs, upstream) if o.requires_grad],
                             allow_unused=True)
    arrays = [t.data if isinstance(t, Tensor) else None for t in template]
    for k, g in zip(diff, analytic):
        x = template[k]
        g = np.zeros(x.shape) if g is None else g.numpy()
        _check_input(fn, arrays, template, upstream, k, g, eps, atol, rtol, max_elements,
                     directions, rng)
    return True


def _check_input(fn, arrays, template, upstream, k, analytic, eps, atol, rtol, max_elements,
                 directions, rng):
    def at(point):
        trial = list(arrays)
        trial[k] = point
        return _objective(fn, trial, template, upstream)

    _check_leaf(at, arrays[k], backend.xp_of(template[k].device), analytic, eps, atol, rtol,
                max_elements, directions, rng, f"input {k}")


def _compare(numeric, analytic, atol, rtol, label, shape, where):
    error = np.abs(analytic - numeric)
    excess = error - (atol + rtol * np.abs(numeric))
    bad = ~(excess <= 0)  # NaN counts as bad
    if bad.any():
        worst = np.unravel_index(np.argmax(np.where(np.isnan(excess), np.inf, excess)), excess.shape)
        index = tuple(int(i) for i in worst) if where == "element" else int(worst[0])
        place = f"element {index}" if where == "element" else f"random direction {index}"
        raise GradcheckError(
            f"gradcheck failed for {label} (shape {tuple(shape)}) at {place}: "
            f"analytic {analytic[worst]:.10g}, numeric {numeric[worst]:.10g}, difference "
            f"{error[worst]:.3g} > tolerance {atol + rtol * abs(numeric[worst]):.3g} "
            f"(atol={atol}, rtol={rtol}); {int(bad.sum())} of {bad.size} checks failed")


def gradcheck_module(fn, module, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, max_elements=64,
                     directions=8, seed=0):
    """``gradcheck`` for a layer: the gradients of ``fn(*inputs)`` with respect to the floating
    inputs AND every parameter of ``module`` that requires grad, against central differences.

    ``module`` must be float64 (``module.double()``) and the inputs float64 tensors; ``fn`` is
    called with leaves holding the inputs' values and uses ``module`` inside. Each parameter's
    array is swapped for perturbed copies and put back, so the module ends as it began. Errors
    name the input or parameter. Every evaluation of ``fn`` starts from ``tg.manual_seed(seed)``,
    so a layer with dropout in train mode draws the same masks each time (the random streams
    are left reseeded).

    >>> import tinygrad_seq as tg
    >>> from tinygrad_seq.testing import gradcheck_module
    >>> layer = tg.nn.Linear(3, 2).double()
    >>> gradcheck_module(lambda x: layer(x).tanh(), layer, tg.randn(4, 3, dtype="float64"))
    True
    """
    with backend.on(_device_of((*inputs, *module.parameters()))):
        return _gradcheck_module(fn, module, inputs, eps, atol, rtol, max_elements, directions,
                                 seed)


def _gradcheck_module(fn, module, inputs, eps, atol, rtol, max_elements, directions, seed):
    rng = np.random.default_rng(seed)
    # the inputs are replaced by fresh leaves sharing their arrays, so the caller's are untouched
    inputs = [x.detach().requires_grad_() if isinstance(x, Tensor) and x.dtype.kind == "f" else x
              for x in inputs]
    named = [(f"input {k}", x) for k, x in enumerate(inputs)
             if isinstance(x, Tensor) and x.requires_grad]
    named += [(f"parameter {name!r}", p) for name, p in module.named_parameters() if p.requires_grad]
    for label, leaf in named:
        if leaf.dtype != backend.float64:
            raise ValueError(f"gradcheck_module: {label} is {leaf.dtype}; use float64 "
                             f"(module.double(), dtype='float64')")
    leaves = [leaf for _, leaf in named]
    backend.manual_seed(seed)
    outs = as_outputs(fn(*inputs))
    xp = backend.xp_of(outs[0].device)
    upstream = [xp.asarray(rng.standard_normal(o.shape)) for o in outs]
    used = [(o, u) for o, u in zip(outs, upstream) if o.requires_grad]
    if not used:
        raise GradcheckError("gradcheck_module: no output depends on the inputs or parameters")
    analytic = autograd_grad([o for o, _ in used], leaves,
                             grad_outputs=[Tensor._make(u, o.device, None, 0) for o, u in used],
                             allow_unused=True)

    def objective():
        backend.manual_seed(seed)
        with no_grad():
            return sum(float((o.data * u).sum()) for o, u in zip(as_outputs(fn(*inputs)), upstream))

    for (label, _), leaf, g in zip(named, leaves, analytic):
        g = np.zeros(leaf.shape) if g is None else g.numpy()
        original = leaf.data

        def at(point, leaf=leaf):
            leaf.data = point
            return objective()

        try:
            _check_leaf(at, original, backend.xp_of(leaf.device), g, eps, atol, rtol, max_elements,
                        directions, rng, label)
        finally:
            leaf.data = original
    return True


def _check_leaf(at, x, xp, analytic, eps, atol, rtol, max_elements, directions, rng, label):
    if x.size <= max_elements:
        numeric = np.zeros(x.shape)
        for index in np.ndindex(*x.shape):
            plus, minus = x.copy(), x.copy()
            plus[index] += eps
            minus[index] -= eps
            numeric[index] = (at(plus) - at(minus)) / (2 * eps)
        _compare(numeric, analytic, atol, rtol, label, x.shape, where="element")
    else:
        numeric, projected = np.zeros(directions), np.zeros(directions)
        for d in range(directions):
            direction = rng.standard_normal(x.shape)
            direction /= np.linalg.norm(direction)
            step = xp.asarray(direction * eps)
            numeric[d] = (at(x + step) - at(x - step)) / (2 * eps)
            projected[d] = float((analytic * direction).sum())
        _compare(numeric, projected, atol, rtol, label, x.shape, where="direction")
