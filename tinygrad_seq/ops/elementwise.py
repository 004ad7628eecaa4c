"""Element-wise ops. Inputs broadcast as in NumPy; the engine sums gradients back to shape."""
import numbers

from ..autograd import Function, tensor_type
from .. import backend


class Constants:
    """0.5 and 1 for an op's arithmetic: 0-d arrays of a float dtype on the op's device (Python
    numbers for other dtypes). Beside a small array NumPy converts a Python number at every call,
    about 0.45 µs, a third of a small ufunc; a cached 0-d array costs nothing."""
    __slots__ = ("half", "one")

    def __init__(self, half, one):
        self.half, self.one = half, one


_PYTHON = Constants(0.5, 1)
_constants = {}


def constants(ctx, dtype):
    """The ``Constants`` of ``dtype`` on the device of the op ``ctx``."""
    if dtype.kind != "f":
        return _PYTHON
    key = (ctx.device, dtype.num)
    found = _constants.get(key)
    if found is None:
        xp = ctx.xp
        found = _constants[key] = Constants(xp.asarray(0.5, dtype), xp.asarray(1, dtype))
    return found


def promote(a, b):
    """A float array next to an integer or bool one: the other takes the float dtype (PyTorch's
    rule; NumPy would make int64 with float32 float64). Other mixtures follow NumPy."""
    if a.dtype.kind == "f":
        if b.dtype.kind != "f":
            b = b.astype(a.dtype)
    elif b.dtype.kind == "f":
        a = a.astype(b.dtype)
    return a, b


class Neg(Function):
    def forward(ctx, a):
        return -a

    def backward(ctx, g):
        return -g


class Add(Function):
    def forward(ctx, a, b):
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        return a + b

    def backward(ctx, g):
        return g, g


class Sub(Function):
    def forward(ctx, a, b):
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        return a - b

    def backward(ctx, g):
        return g, -g


class Mul(Function):
    def forward(ctx, a, b):
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        ctx.save(a, b)
        return a * b

    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    def forward(ctx, a, b):
        if a.dtype.kind != "f" and b.dtype.kind != "f":  # true division of integers: float32
            a, b = a.astype(backend.DEFAULT_FLOAT), b.astype(backend.DEFAULT_FLOAT)
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        ctx.save(a, b)
        return a / b

    def backward(ctx, g):
        a, b = ctx.saved
        need_a, need_b = ctx.needs_input_grad
        ga = g / b if need_a else None
        gb = -g * a / (b * b) if need_b else None
        return ga, gb


class Pow(Function):
    """``a ** b`` for a tensor exponent; d/db uses log(a), so it is defined for a > 0."""

    def forward(ctx, a, b):
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        y = a ** b
        ctx.save(a, b, y)
        return y

    def backward(ctx, g):
        a, b, y = ctx.saved
        xp = ctx.xp
        need_a, need_b = ctx.needs_input_grad
        ga = None
        if need_a:  # b * a^(b-1), which is 0 where b == 0 (not 0 * inf at a == 0)
            zero = b == 0
            ga = g * xp.where(zero, 0, b * a ** xp.where(zero, 1, b - 1))
        gb = None
        if need_b:
            positive = a > 0
            gb = g * y * xp.log(xp.where(positive, a, 1)) * positive
        return ga, gb


class PowScalar(Function):
    name = "pow"

    def forward(ctx, a, exponent):
        ctx.save(a)
        ctx.exponent = exponent
        return a ** exponent

    def backward(ctx, g):
        (a,) = ctx.saved
        e = ctx.exponent
        if e == 0:
            return ctx.xp.zeros(a.shape, dtype=g.dtype)
        if e == 2:
            return g * (2 * a)
        return g * (e * a ** (e - 1))


class Exp(Function):
    def forward(ctx, a):
        y = ctx.xp.exp(a)
        ctx.save(y)
        return y

    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    def forward(ctx, a):
        ctx.save(a)
        return ctx.xp.log(a)

    def backward(ctx, g):
        return g / ctx.saved[0]


class Sqrt(Function):
    def forward(ctx, a):
        y = ctx.xp.sqrt(a)
        ctx.save(y)
        return y

    def backward(ctx, g):
        return g / (2 * ctx.saved[0])


class Abs(Function):
    def forward(ctx, a):
        ctx.save(a)
        return ctx.xp.abs(a)

    def backward(ctx, g):
        return g * ctx.xp.sign(ctx.saved[0])


class Sin(Function):
    def forward(ctx, a):
        ctx.save(a)
        return ctx.xp.sin(a)

    def backward(ctx, g):
        return g * ctx.xp.cos(ctx.saved[0])


class Cos(Function):
    def forward(ctx, a):
        ctx.save(a)
        return ctx.xp.cos(a)

    def backward(ctx, g):
        return -g * ctx.xp.sin(ctx.saved[0])


def _cpu_loop(ctx, a):
    """The compiled CPU loops (``backend.cpu_loops``) where they serve ``a``: a float32 NumPy
    array of some size (NumPy's float32 tanh costs several ns an element; a small array's
    call costs the same either way)."""
    if a.dtype != backend.float32 or a.size < CPU_LOOP_MIN_SIZE:
        return None
    return backend.cpu_loops(ctx.xp, a.dtype)


# from this many elements tanh and sigmoid run as compiled loops on the CPU
CPU_LOOP_MIN_SIZE = 256


class Tanh(Function):
    def forward(ctx, a):
        loops = _cpu_loop(ctx, a)
        if loops is None:
            y = ctx.xp.tanh(a)
        else:
            y = ctx.xp.empty(a.shape, a.dtype)
            loops.tanh_into(ctx.xp.ascontiguousarray(a), y)
        ctx.save(y)
        return y

    def backward(ctx, g):
        y = ctx.saved[0]
        return g * (constants(ctx, y.dtype).one - y * y)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2: no overflow for any x, and one
    transcendental pass (exp(-logaddexp(0, -x)) was 40x slower on NumPy, and the gates of every
    recurrent cell go through here). The absolute error stays within float rounding; the
    relative error of outputs below ~1e-7 is large, so take log-probabilities with log_softmax,
    not log(sigmoid(x)). XLA's logistic uses the same expansion."""

    def forward(ctx, a):
        loops = _cpu_loop(ctx, a)
        if loops is not None:
            y = ctx.xp.empty(a.shape, a.dtype)
            loops.sigmoid_into(ctx.xp.ascontiguousarray(a), y)
            ctx.save(y)
            return y
        half = constants(ctx, a.dtype).half  # a Python float for ints: the result is float64
        y = ctx.xp.multiply(a, half)
        if y.ndim:
            ctx.xp.tanh(y, out=y)
        else:  # NumPy makes a 0-d result a scalar, which out= cannot write into
            y = ctx.xp.tanh(y)
        if half.__class__ is float:
            half = constants(ctx, y.dtype).half
        y *= half
        y += half
        ctx.save(y)
        return y

    def backward(ctx, g):
        y = ctx.saved[0]
        return g * (y * (constants(ctx, y.dtype).one - y))


class Relu(Function):
    def forward(ctx, a):
        ctx.save(a > 0)
        return ctx.xp.maximum(a, 0)

    def backward(ctx, g):
        return g * ctx.saved[0]


class Maximum(Function):
    """Element-wise maximum; at ties each input gets half the gradient (as PyTorch)."""

    pick = "maximum"

    def forward(ctx, a, b):
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        ctx.save(a, b)
        return getattr(ctx.xp, ctx.pick)(a, b)

    def backward(ctx, g):
        a, b = ctx.saved
        wins = (a > b) if ctx.pick == "maximum" else (a < b)
        share = wins + g.dtype.type(0.5) * (a == b)
        return g * share, g * (1 - share)


class Minimum(Maximum):
    """Element-wise minimum; at ties each input gets half the gradient (as PyTorch)."""

    pick = "minimum"


class Clip(Function):
    """Clamp to [min, max] (either may be None); the gradient passes where min <= x <= max."""

    def forward(ctx, a, min=None, max=None):
        xp = ctx.xp
        inside = xp.ones(a.shape, dtype=bool)
        if min is not None:
            inside &= a >= min
        if max is not None:
            inside &= a <= max
        ctx.save(inside)
        return xp.clip(a, min, max) if (min is not None or max is not None) else a.copy()

    def backward(ctx, g):
        return g * ctx.saved[0]


class Where(Function):
    def forward(ctx, condition, a, b):
        condition = condition.astype(bool, copy=False)
        if a.dtype != b.dtype:
            a, b = promote(a, b)
        ctx.save(condition)
        return ctx.xp.where(condition, a, b)

    def backward(ctx, g):
        (condition,) = ctx.saved
        _, need_a, need_b = ctx.needs_input_grad
        zero = g.dtype.type(0)
        return (None,
                ctx.xp.where(condition, g, zero) if need_a else None,
                ctx.xp.where(condition, zero, g) if need_b else None)


class Astype(Function):
    def forward(ctx, a, dtype):
        return a.astype(dtype)

    def backward(ctx, g):
        return g  # the engine casts it back to the input's dtype


# ---------------------------------------------------------------- public functions

def neg(a): return Neg.apply(a)
def add(a, b): return Add.apply(a, b)
def sub(a, b): return Sub.apply(a, b)
def mul(a, b): return Mul.apply(a, b)
def div(a, b): return Div.apply(a, b)
def exp(a): return Exp.apply(a)
def log(a): return Log.apply(a)
def sqrt(a): return Sqrt.apply(a)
def abs(a): return Abs.apply(a)
def sin(a): return Sin.apply(a)
def cos(a): return Cos.apply(a)
def tanh(a): return Tanh.apply(a)
def sigmoid(a): return Sigmoid.apply(a)
def relu(a): return Relu.apply(a)
def maximum(a, b): return Maximum.apply(a, b)
def minimum(a, b): return Minimum.apply(a, b)
def clip(a, min=None, max=None):
    """Clamp to [min, max]; the bounds are numbers (either may be None)."""
    return Clip.apply(a, min=_python_number(min), max=_python_number(max))
def where(condition, a, b): return Where.apply(condition, a, b)


def pow(a, exponent):
    """``a ** exponent``; a number as exponent is a constant (its gradient is not needed)."""
    Tensor = tensor_type()
    if isinstance(a, Tensor) and isinstance(exponent, numbers.Real) and not isinstance(exponent, bool):
        return PowScalar.apply(a, exponent=_python_number(exponent))
    return Pow.apply(a, exponent)


def _python_number(value):
    """A NumPy scalar as a Python number: NumPy lets a float64 scalar make a float32 array
    float64, a Python float does not change its dtype."""
    return value.item() if isinstance(value, numbers.Number) and hasattr(value, "item") else value


def astype(a, dtype):
    """A copy converted to ``dtype``; float -> int results carry no gradient."""
    return Astype.apply(a, dtype=backend.canonical_dtype(dtype))


# ---------------------------------------------------------------- comparisons (no gradient)

# Each of these computes every element alike, so it runs unchanged over extra leading axes
# (tg.scan hoists such work out of its loop and runs it once over every step).
for _op in (Neg, Add, Sub, Mul, Div, Pow, PowScalar, Exp, Log, Sqrt, Abs, Sin, Cos, Tanh, Sigmoid,
            Relu, Maximum, Minimum, Clip, Where, Astype):
    _op.leading = "all"


class Compare(Function):
    """An element-wise comparison (``ufunc`` of the array module) as a bool array: an op like
    the others, so a recorded step (``tg.scan``) sees it; no gradient flows through it."""
    leading = "all"
    ufunc = None

    def forward(ctx, a, b):
        return getattr(ctx.xp, ctx.ufunc)(a, b)

    def backward(ctx, g):
        return None, None


def _comparison(name, ufunc_name):
    op = type(name.title().replace("_", ""), (Compare,), {"name": name, "ufunc": ufunc_name})

    def compare(a, b):
        return op.apply(a, b)
    compare.__name__ = name
    compare.__doc__ = f"Element-wise ``{ufunc_name}`` as a bool tensor (no gradient)."
    return compare


less = _comparison("less", "less")
less_equal = _comparison("less_equal", "less_equal")
greater = _comparison("greater", "greater")
greater_equal = _comparison("greater_equal", "greater_equal")
equal = _comparison("equal", "equal")
not_equal = _comparison("not_equal", "not_equal")
