"""Random step functions for tg.scan's property tests (tests/test_scan.py).

A ``Scenario`` is plain data that hypothesis draws and shrinks: one or two step *programs* (a
random DAG of registry ops over the carry, the step input and loop-invariant closures), the
closures' shapes, how the scans are composed (one scan, two stacked, or a bidirectional pair),
``lengths``, ``reverse``, train or eval. ``run(scenario, engine)`` builds the tensors from a
seed, runs the scans under one engine and back-propagates a random projection of every output,
returning the outputs and every gradient as arrays, so that two engines can be compared.

Every value in a step's *pool* is (batch, width): the widths are tracked while a program is
drawn, so that each op gets operands it accepts (a (batch, 1) reduction broadcasts against any
width). Around the pool: a (batch, 2, width) *memory* carry, integer *tokens* looked up in an
embedding, step inputs and ys of shape (batch,), step inputs of shape (width,) shared by the
batch, an *encoder* output computed from the inputs outside the step.
"""
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import tinygrad_seq as tg
from tinygrad_seq.nn import functional as F

ENGINES = ["graph", "compiled"]
WIDTHS = (1, 2, 3, 4)
VOCABULARY = 4
UNARY = ("tanh", "sigmoid", "sin", "cos", "neg", "relu", "abs", "square")
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum")
REDUCE = ("sum", "mean")


@dataclass(frozen=True)
class Closure:
    """A tensor the step closes over. ``shape`` uses "B" for the batch; ``encoder``: computed
    outside the step from the first input sequence (or from a leaf when there is none), its
    weight the next closure."""
    shape: tuple
    requires_grad: bool
    encoder: bool = False


@dataclass(frozen=True)
class Node:
    """One op of a step: ``op`` (a key of ``apply``), ``args`` positions in the step's pool,
    ``closures`` positions in the scenario's closures, ``option`` the op's own choice."""
    op: str
    args: tuple = ()
    closures: tuple = ()
    option: object = None


@dataclass(frozen=True)
class Program:
    """A step. Its pool starts as the carry's tensors, the step inputs' (a (B,) input as
    (B, 1)), the token embedding (``tokens``: the embedding's closure), ``pool_closures``, the
    memory summed over its middle axis; each node appends its outputs. The new carry's k-th
    tensor is ``carry_out[k] = (pool position, projection closure or None, squashed by tanh)``;
    the new memory ``tanh(memory / 2 + pool[memory_out[0]] projected by memory_out[1])``;
    ``y_out`` lists (pool position, summed over its last axis to (B,))."""
    carry_tree: object
    carry_widths: tuple
    x_tree: object
    x_widths: tuple          # 0: a (B,) input; -w: a (w,) input shared by the batch
    pool_closures: tuple
    nodes: tuple
    carry_out: tuple
    y_tree: object
    y_out: tuple
    widths: tuple            # of every pool value, in order
    memory: int = None       # the width of a (B, 2, width) carry after the others
    memory_out: tuple = None
    tokens: int = None       # the embedding closure of (B,) integer inputs after the others


@dataclass(frozen=True)
class Scenario:
    batch: int
    steps: int
    layout: str             # "single", "stacked" or "bidirectional"
    programs: tuple         # one Program, or two for "stacked"
    closures: tuple
    lengths: tuple = None   # one per sequence, or None
    reverse: bool = False
    train: bool = True
    init_grad: bool = True  # whether the initial carry requires grad
    x_grad: bool = True     # whether the input sequence requires grad
    seed: int = 0


# ---------------------------------------------------------------- trees of tensors

def trees(n):
    """Structures holding ``n`` tensors: numbers are positions in a flat list."""
    if n == 1:
        return st.sampled_from([0, (0,), [0]])
    flat = tuple(range(n))
    return st.sampled_from([flat, list(flat), (0, list(range(1, n))), ((0,), tuple(range(1, n)))])


def build_tree(tree, values):
    if tree is None:
        return None
    if isinstance(tree, int):
        return values[tree]
    return type(tree)(build_tree(item, values) for item in tree)


def flatten(value):
    if value is None:
        return []
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in flatten(item)]
    return [value]


# ---------------------------------------------------------------- drawing a step

class _Closures:
    """The scenario's closures while programs are drawn: new ones appended, some reused."""

    def __init__(self, draw):
        self.draw, self.specs = draw, []

    def get(self, shape, requires_grad=None):
        same = [k for k, c in enumerate(self.specs) if c.shape == shape and not c.encoder]
        if same and self.draw(st.booleans()):  # a weight used twice in a step sums both uses
            return self.draw(st.sampled_from(same))
        if requires_grad is None:
            requires_grad = self.draw(st.integers(0, 3)) > 0
        self.specs.append(Closure(shape, requires_grad))
        return len(self.specs) - 1


KINDS = ("unary", "binary", "binary_closure", "where", "linear", "matmul", "chunk", "split",
         "concatenate", "reduce", "softmax", "dropout", "feedback", "scan")


@st.composite
def programs(draw, closures, carry_widths, carry_tree, x_widths, x_tree, encoder=None,
             memory=None, tokens=None, max_nodes=7):
    """A random step over carries and inputs of the given widths (``encoder``: the closure
    position of an encoder output put in the pool, or None; ``memory``, ``tokens``: as
    ``Program``)."""
    widths = list(carry_widths) + [1 if w == 0 else abs(w) for w in x_widths]
    if tokens is not None:
        widths.append(closures.specs[tokens].shape[1])
    pool_closures = ()
    if encoder is not None:
        pool_closures = (encoder,)
        widths.append(closures.specs[encoder].shape[1])
    if memory is not None:
        widths.append(memory)
    nodes = []

    def pick(width=None):
        return draw(st.sampled_from([k for k, w in enumerate(widths)
                                     if width is None or w == width]))

    for _ in range(draw(st.integers(1, max_nodes))):
        kind = draw(st.sampled_from(KINDS))
        a = pick()
        w = widths[a]
        if kind == "unary":
            nodes.append(Node("unary", (a,), option=draw(st.sampled_from(UNARY))))
            widths.append(w)
        elif kind == "binary":  # same widths, or one of them (B, 1)
            b = draw(st.sampled_from([k for k, v in enumerate(widths) if w in (v, 1) or v == 1]))
            nodes.append(Node("binary", (a, b), option=draw(st.sampled_from(BINARY))))
            widths.append(max(w, widths[b]))
        elif kind == "binary_closure":  # broadcasting against a loop-invariant tensor
            shape = draw(st.sampled_from([(w,), (1, w), ("B", 1), ("B", w), ()]))
            option = (draw(st.sampled_from(BINARY)), draw(st.booleans()))
            nodes.append(Node("binary_closure", (a,), (closures.get(shape),), option))
            widths.append(w)
        elif kind == "where":  # where(a > b, a, c): a comparison feeding a selection
            nodes.append(Node("where", (a, pick(w), pick(w))))
            widths.append(w)
        elif kind == "linear":
            out = draw(st.sampled_from(WIDTHS))
            weight = closures.get((out, w))
            bias = (closures.get((out,)),) if draw(st.booleans()) else ()
            nodes.append(Node("linear", (a,), (weight,) + bias))
            widths.append(out)
        elif kind == "matmul":
            out = draw(st.sampled_from(WIDTHS))
            nodes.append(Node("matmul", (a,), (closures.get((w, out)),)))
            widths.append(out)
        elif kind == "chunk":  # PyTorch's chunk: pieces of ceil(w / chunks), maybe only one
            chunks = draw(st.integers(1, 3))
            size = max(-(-w // chunks), 1)
            nodes.append(Node("chunk", (a,), option=chunks))
            widths.extend([size] * (w // size) + ([w % size] if w % size else []))
        elif kind == "split" and w >= 2:
            first = draw(st.integers(1, w - 1))
            nodes.append(Node("split", (a,), option=(first, w - first)))
            widths.extend([first, w - first])
        elif kind == "concatenate":
            b = pick()
            nodes.append(Node("concatenate", (a, b)))
            widths.append(w + widths[b])
        elif kind == "reduce":
            nodes.append(Node("reduce", (a,), option=draw(st.sampled_from(REDUCE))))
            widths.append(1)
        elif kind == "softmax":
            nodes.append(Node("softmax", (a,)))
            widths.append(w)
        elif kind == "dropout":
            nodes.append(Node("dropout", (a,), option=draw(st.sampled_from([0.25, 0.5]))))
            widths.append(w)
        elif kind == "feedback":  # greedy decoding: the argmax's embedding, as the next input
            out = draw(st.sampled_from(WIDTHS))
            nodes.append(Node("feedback", (a,), (closures.get((w, out)),)))
            widths.append(out)
        elif kind == "scan":  # a scan inside the step: two steps over (a, tanh(a))
            option = (draw(st.booleans()), draw(st.sampled_from([0.0, 0.25])))
            nodes.append(Node("scan", (a,), (closures.get((w, w)),), option=option))
            widths.extend([w, w])
    carry_out = tuple(_carry_out(draw, closures, pick, widths, width) for width in carry_widths)
    memory_out = _carry_out(draw, closures, pick, widths, memory)[:2] if memory else None
    n_y = draw(st.integers(0, 2))
    y_out = tuple((pick(), draw(st.integers(0, 3)) == 0) for _ in range(n_y))
    return Program(carry_tree, tuple(carry_widths), x_tree, tuple(x_widths), pool_closures,
                   tuple(nodes), carry_out, draw(trees(n_y)) if n_y else None, y_out,
                   tuple(widths), memory, memory_out, tokens)


def _carry_out(draw, closures, pick, widths, width):
    source = pick()
    same = widths[source] == width and draw(st.booleans())
    project = None if same else closures.get((width, widths[source]))
    return source, project, draw(st.integers(0, 3)) > 0


def _tree_and_widths(draw, most, widths=WIDTHS):
    n = draw(st.integers(1, most))
    return draw(trees(n)), tuple(draw(st.sampled_from(widths)) for _ in range(n))


@st.composite
def scenarios(draw, layouts=("single", "single", "stacked", "bidirectional"), max_steps=4):
    """A whole scenario: the scans, their inputs' structure, lengths, direction and mode."""
    closures = _Closures(draw)
    layout = draw(st.sampled_from(layouts))
    batch = draw(st.integers(1, 3))
    steps = draw(st.integers(0, max_steps))
    carry_tree, carry_widths = _tree_and_widths(draw, 3)
    if draw(st.integers(0, 4)) == 0:  # no xs: length= gives the number of steps
        x_tree, x_widths = None, ()
    else:
        x_tree, x_widths = _tree_and_widths(draw, 2, (0,) + WIDTHS + (-2, -3))
    memory = draw(st.sampled_from(WIDTHS)) if draw(st.integers(0, 3)) == 0 else None
    tokens = None
    if draw(st.integers(0, 3)) == 0:
        tokens = closures.get((VOCABULARY, draw(st.sampled_from(WIDTHS))))
    encoder = None
    if draw(st.booleans()):
        width = draw(st.sampled_from(WIDTHS))
        source = x_widths[0] if x_widths and x_widths[0] >= 0 else width
        closures.specs.append(Closure(("B", width), True, encoder=True))
        encoder = len(closures.specs) - 1
        closures.specs.append(Closure((width, source or 1), True))  # its weight
    first = draw(programs(closures, carry_widths, carry_tree, x_widths, x_tree, encoder, memory,
                          tokens))
    chosen = (first,)
    if layout == "stacked":  # the second scan runs over the first one's ys from its final carry
        y_widths = tuple(0 if squeeze else first.widths[k] for k, squeeze in first.y_out)
        chosen += (draw(programs(closures, carry_widths, carry_tree, y_widths, first.y_tree,
                                 encoder, memory)),)
    lengths = None
    choice = draw(st.sampled_from(["none", "full", "random"]))
    if choice == "full":
        lengths = (steps,) * batch
    elif choice == "random":  # unsorted, zeros included
        lengths = tuple(draw(st.lists(st.integers(0, steps), min_size=batch, max_size=batch)))
    return Scenario(batch, steps, layout, chosen, tuple(closures.specs), lengths,
                    reverse=draw(st.booleans()), train=not draw(st.booleans()),
                    init_grad=draw(st.integers(0, 3)) > 0, x_grad=draw(st.integers(0, 3)) > 0,
                    seed=draw(st.integers(0, 2**16)))


# ---------------------------------------------------------------- running a scenario

def _unary(name, a):
    return a * a if name == "square" else getattr(tg, name)(a)


def _binary(name, a, b):
    if name == "div":  # away from zero
        return a / (b * b + 1.0)
    return {"add": tg.add, "sub": tg.sub, "mul": tg.mul, "maximum": tg.maximum,
            "minimum": tg.minimum}[name](a, b)


def _inner_step(weight, p, train):
    def step(h, x):
        h = tg.tanh(tg.ops.linear(h, weight) + x)
        return h, F.dropout(h * x, p, training=train)
    return step


def apply(node, pool, closures, train, engine):
    """The outputs of one node, a list of tensors."""
    a = pool[node.args[0]]
    c = [closures[k] for k in node.closures]
    if node.op == "unary":
        return [_unary(node.option, a)]
    if node.op == "binary":
        return [_binary(node.option, a, pool[node.args[1]])]
    if node.op == "binary_closure":
        name, swap = node.option
        return [_binary(name, c[0], a) if swap else _binary(name, a, c[0])]
    if node.op == "where":
        b, other = pool[node.args[1]], pool[node.args[2]]
        return [tg.where(tg.greater(a, b), a, other)]
    if node.op == "linear":
        return [F.linear(a, *c)]
    if node.op == "matmul":
        return [tg.matmul(a, c[0])]
    if node.op == "chunk":
        return list(tg.chunk(a, node.option, axis=-1))
    if node.op == "split":
        return list(tg.split(a, list(node.option), axis=-1))
    if node.op == "concatenate":
        return [tg.concatenate([a, pool[node.args[1]]], axis=-1)]
    if node.op == "reduce":
        return [getattr(tg, node.option)(a, axis=-1, keepdims=True)]
    if node.op == "softmax":
        return [tg.softmax(a, axis=-1)]
    if node.op == "dropout":
        return [F.dropout(a, node.option, training=train)]
    if node.op == "feedback":
        return [tg.take(c[0], tg.argmax(a, axis=-1), axis=0)]
    if node.op == "scan":  # the inner scan runs on the engine of the outer one
        reverse, p = node.option
        h, ys = tg.scan(_inner_step(c[0], p, train), a, tg.stack([a, tg.tanh(a)], axis=0),
                        reverse=reverse, engine=engine)
        return [h, ys.mean(axis=0)]
    raise ValueError(f"unknown node {node.op!r}")


def make_step(program, closures, train, engine):
    """``step(carry, x) -> (carry, y)`` of ``program`` over the closure tensors ``closures``."""
    def project(value, weight):
        return value if weight is None else F.linear(value, closures[weight])

    def step(carry, x):
        if program.memory is not None:
            carry, memory = carry
        if program.tokens is not None:
            x, tokens = x
        pool = flatten(carry)
        batch = pool[0].shape[0]
        for part, width in zip(flatten(x), program.x_widths):
            if width == 0:
                part = part.unsqueeze(-1)
            elif width < 0:  # over the batch by a product with a constant
                part = part * tg.ones(batch, 1, dtype="float64")
            pool.append(part)
        if program.tokens is not None:
            pool.append(tg.take(closures[program.tokens], tokens, axis=0))
        pool += [closures[k] for k in program.pool_closures]
        if program.memory is not None:
            pool.append(memory.sum(axis=1))
        for node in program.nodes:
            pool.extend(apply(node, pool, closures, train, engine))
        new = []
        for source, weight, squash in program.carry_out:
            value = project(pool[source], weight)
            new.append(tg.tanh(value) if squash else value)
        new = build_tree(program.carry_tree, new)
        if program.memory is not None:
            source, weight = program.memory_out
            update = project(pool[source], weight).unsqueeze(1)
            new = (new, tg.tanh(memory * 0.5 + update))
        y = [pool[k].sum(axis=-1) if squeeze else pool[k] for k, squeeze in program.y_out]
        return new, build_tree(program.y_tree, y)
    return step


def _leaf(array, requires_grad):
    return tg.tensor(array, dtype="float64", requires_grad=requires_grad)


def random_tensor(rng, *shape, low=-1.0, high=1.0, requires_grad=True):
    """A float64 leaf of uniform values from the NumPy generator ``rng``."""
    return _leaf(rng.uniform(low, high, shape), requires_grad)


def run(scenario, engine):
    """The scenario under ``engine``: {name: array} of every output and every gradient of
    sum(output * R) for fixed random R (the same under every engine)."""
    rng = np.random.default_rng(scenario.seed)
    program, B, T = scenario.programs[0], scenario.batch, scenario.steps
    leaves = {}

    def leaf(name, shape, requires_grad, low=-1.0, high=1.0):
        leaves[name] = _leaf(rng.uniform(low, high, shape), requires_grad)
        return leaves[name]

    init = [leaf(f"init[{k}]", (B, w), scenario.init_grad)
            for k, w in enumerate(program.carry_widths)]
    xs = [leaf(f"xs[{k}]", (T, -w) if w < 0 else (T, B) + ((w,) if w else ()), scenario.x_grad,
               -2.0, 2.0) for k, w in enumerate(program.x_widths)]
    memory = leaf("memory", (B, 2, program.memory), True) if program.memory else None
    tokens = tg.tensor(rng.integers(0, VOCABULARY, (T, B)))
    closures = []
    for k, spec in enumerate(scenario.closures):
        shape = tuple(B if n == "B" else n for n in spec.shape)
        closures.append(None if spec.encoder else leaf(
            f"closure[{k}]", shape, spec.requires_grad, -1.5 / np.sqrt(shape[-1] if shape else 1),
            1.5 / np.sqrt(shape[-1] if shape else 1)))
    for k, spec in enumerate(scenario.closures):
        if spec.encoder:  # from the inputs (or, without any, from a leaf of its own)
            weight = closures[k + 1]
            if xs and program.x_widths[0] >= 0:
                source = xs[0].sum(axis=0)
            else:
                source = leaf("source", (B, weight.shape[1]), True)
            source = source.unsqueeze(-1) if source.ndim == 1 else source
            closures[k] = tg.tanh(F.linear(source, weight))
    tg.manual_seed(scenario.seed)
    outputs = compose(scenario, init, xs, memory, tokens, closures, engine)
    rng = np.random.default_rng(scenario.seed + 1)
    result, loss = {}, None
    for name, out in outputs.items():
        result[name] = out.numpy()
        term = (out * tg.tensor(rng.normal(size=out.shape), dtype="float64")).sum()
        loss = term if loss is None else loss + term
    if loss is not None and loss.requires_grad:
        loss.backward()
    for name, t in leaves.items():
        if t.requires_grad:
            result[f"grad {name}"] = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
    return result


def compose(scenario, init, xs, memory, tokens, closures, engine):
    """Run the scenario's scans; {name: output tensor}."""
    first = scenario.programs[0]
    lengths = None if scenario.lengths is None else np.array(scenario.lengths, dtype=np.int64)
    x = build_tree(first.x_tree, xs)
    if first.tokens is not None:
        x = (x, tokens)
    common = dict(length=scenario.steps if x is None else None, lengths=lengths, engine=engine)
    carry0 = build_tree(first.carry_tree, init)
    if memory is not None:
        carry0 = (carry0, memory)
    step = make_step(first, closures, scenario.train, engine)
    carry, ys = tg.scan(step, carry0, x, reverse=scenario.reverse, **common)
    outputs = _named("carry", carry) | _named("ys", ys)
    if scenario.layout == "stacked":
        step2 = make_step(scenario.programs[1], closures, scenario.train, engine)
        x2 = ys if flatten(ys) else None
        common["length"] = scenario.steps if x2 is None else None
        carry2, ys2 = tg.scan(step2, carry, x2, reverse=scenario.reverse, **common)
        outputs |= _named("carry2", carry2) | _named("ys2", ys2)
    elif scenario.layout == "bidirectional":
        back, ys_back = tg.scan(step, carry0, x, reverse=not scenario.reverse, **common)
        outputs |= _named("carry_back", back)
        both = [tg.concatenate([f, b], axis=-1) for f, b in zip(flatten(ys), flatten(ys_back))]
        outputs |= {f"ys_both[{k}]": t for k, t in enumerate(both)}
    return outputs


def _named(name, value):
    return {f"{name}[{k}]": t for k, t in enumerate(flatten(value))}


def assert_same(actual, expected, what, rtol=1e-10):
    """float64 results of two engines: equal up to rounding (rtol, and an absolute tolerance
    scaled by the largest value, where terms cancel)."""
    assert actual.keys() == expected.keys(), (what, sorted(actual), sorted(expected))
    for name in expected:
        a, e = actual[name], expected[name]
        assert a.shape == e.shape and a.dtype == e.dtype, (what, name, a.shape, e.shape, a.dtype)
        scale = float(np.abs(e).max()) if e.size else 0.0
        np.testing.assert_allclose(a, e, rtol=rtol, atol=1e-12 * max(scale, 1.0),
                                   err_msg=f"{what}: {name}")
