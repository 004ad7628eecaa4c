"""Draw the graph behind a tensor: Graphviz DOT text, rendered when Graphviz is installed.

>>> import tinygrad_seq as tg
>>> model = tg.nn.Linear(3, 1)
>>> loss = (model(tg.randn(4, 3)) ** 2).mean()
>>> g = tg.viz.graph(loss, params=dict(model.named_parameters()))
>>> print(g.source.splitlines()[0])
digraph tinygrad_seq {
>>> 'label="weight' in g.source and 'linear' in g.source
True

Ops are boxes labelled with the op's name and its output shape; leaves are ellipses labelled
with their name in ``params`` (``dict(model.named_parameters())``, as torchviz takes it) or as
"input"; the loss is drawn bold. DOT text needs nothing installed; ``g.render("graph.svg")``
needs the ``graphviz`` Python package and Graphviz's ``dot`` program.

A sequence layer on ``engine="fused"`` or ``"compiled"`` (a ``tg.scan``) is one box, the node
that runs the whole loop. Run step by step (``engine="graph"``), a recurrent net draws T copies
of its cell. Give the records of ``tg.inspect.record_steps`` (which runs the layers op by op
for the block, whatever their engine) as ``steps`` and each time step's ops become one box
("l0 step 7: 12 ops"), so a 50-step LSTM stays readable::

    with tg.inspect.record_steps(lstm) as steps:
        out, _ = lstm(x)
        loss = out[-1].sum()
    tg.viz.graph(loss, params=dict(lstm.named_parameters()), steps=steps).render("lstm.svg")

Draw before ``backward()``: backward releases the graph (unless ``retain_graph=True``).
"""
import os
import shutil

from .tensor import Tensor

__all__ = ["graph", "Graph"]


def _quote(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _shape_text(shape):
    return str(tuple(shape))


class Graph:
    """DOT text (``.source``) of a graph, and ``render(path)`` to draw it."""

    def __init__(self, source):
        self.source = source

    def __str__(self):
        return self.source

    def save(self, path):
        """Write the DOT text to ``path``."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.source)
        return path

    def render(self, path, format=None):
        """Draw to ``path``; the format comes from its extension (svg, png, pdf) unless given.
        Needs the ``graphviz`` Python package and Graphviz's ``dot`` on the PATH; raises a
        RuntimeError saying which is missing otherwise (``.source`` and ``save`` need neither)."""
        try:
            import graphviz
        except ImportError:
            graphviz = None
        missing = []
        if graphviz is None:
            missing.append("the graphviz Python package (pip install graphviz)")
        if shutil.which("dot") is None:
            missing.append("Graphviz's dot program (apt-get install graphviz, brew install graphviz)")
        if missing:
            raise RuntimeError(f"Graph.render needs {' and '.join(missing)}; the DOT text is in "
                               f".source (Graph.save(path) writes it, any DOT viewer draws it)")
        stem, ext = os.path.splitext(path)
        format = format or ext.lstrip(".") or "svg"
        graphviz.Source(self.source).render(filename=stem, format=format, cleanup=True)
        produced = f"{stem}.{format}"
        if produced != path:
            os.replace(produced, path)
        return path


def _step_membership(steps):
    """node -> (box key, label) for the nodes each recorded step created: the nodes reachable
    back from the step's results without passing through the step's own inputs."""
    member = {}
    for record in steps:
        stop = set()
        for t in _tensors((record.x_proj, record.state_in)):
            if t._ctx is not None:
                stop.add(id(t._ctx))
        key = f"step_{id(record.cell)}_{record.call}"
        label = f"{record.name} step {record.call}"
        stack = [t._ctx for t in _tensors((record.output, record.state)) if t._ctx is not None]
        while stack:
            node = stack.pop()
            if id(node) in stop or node in member or node.parents is None:
                continue
            member[node] = (key, label)
            stack.extend(link[0] for link in node.parents if type(link) is tuple)
    return member


def _tensors(value):
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def graph(root, params=None, steps=None, show_shapes=True, name="tinygrad_seq"):
    """The graph that computed ``root`` (a Tensor, usually the loss) as a ``Graph``; see the
    module's text. ``params``: {name: tensor} to label leaves; ``steps``: the records of
    ``tg.inspect.record_steps`` to draw each time step as one box; ``show_shapes``: output
    shapes in the labels and on the edges."""
    if not isinstance(root, Tensor):
        raise TypeError(f"viz.graph: expected a Tensor, got {type(root).__name__}")
    names = {id(t): n for n, t in (params or {}).items()}
    member = _step_membership(steps) if steps else {}
    lines = [f"digraph {name} {{",
             '  graph [rankdir=BT, fontname="Helvetica"];',
             '  node [shape=box, style=filled, fillcolor="#eeeeee", fontname="Helvetica", '
             'fontsize=10];',
             '  edge [fontsize=8];']
    ids, out_shapes, leaves = {}, {}, {}
    boxes = {}  # box key -> [label, number of ops]
    edges = set()

    def node_id(node):
        if node in member:
            key, label = member[node]
            entry = boxes.setdefault(key, [label, 0, set()])
            if node not in entry[2]:
                entry[2].add(node)
                entry[1] += 1
            return key
        if node not in ids:
            ids[node] = f"op{len(ids)}"
        return ids[node]

    def leaf_id(t):
        if id(t) not in leaves:
            leaves[id(t)] = (f"leaf{len(leaves)}", t)
        return leaves[id(t)][0]

    if root._ctx is None:
        top = leaf_id(root)
    else:
        if root._ctx.parents is None:
            raise RuntimeError("viz.graph: the graph was released by backward(); draw it before "
                               "backward() or pass retain_graph=True to backward")
        top = node_id(root._ctx)
        out_shapes.setdefault(root._ctx, set()).add((root._idx, root.shape))
        seen, stack = set(), [root._ctx]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            me = node_id(node)
            for link in node.parents or ():
                if link is None:
                    continue
                if type(link) is tuple:
                    parent, index, shape, _ = link
                    out_shapes.setdefault(parent, set()).add((index, tuple(shape)))
                    source = node_id(parent)
                    stack.append(parent)
                else:
                    source, shape = leaf_id(link), link.shape
                if source != me:
                    edges.add((source, me, _shape_text(shape) if show_shapes else ""))
    for node, nid in ids.items():
        label = node.name
        if show_shapes and node in out_shapes:
            shapes = [_shape_text(s) for _, s in sorted(out_shapes[node])]
            if len(shapes) > 2 and len(set(shapes)) == 1:
                shapes = [f"{len(shapes)} × {shapes[0]}"]
            label += "\n" + ", ".join(shapes)
        extra = ", penwidth=2" if nid == top else ""
        lines.append(f"  {nid} [label={_quote(label)}{extra}];")
    for key, (label, count, _) in boxes.items():
        extra = ", penwidth=2" if key == top else ""
        lines.append(f"  {key} [label={_quote(f'{label}: {count} ops')}, "
                     f'fillcolor="#cfe2f3"{extra}];')
    for lid, t in leaves.values():
        label = names.get(id(t), "input")
        if show_shapes:
            label += "\n" + _shape_text(t.shape)
        fill = "#d9ead3" if id(t) in names else "#ffffff"
        lines.append(f"  {lid} [label={_quote(label)}, shape=ellipse, fillcolor={_quote(fill)}];")
    for source, target, label in sorted(edges):
        attr = f" [label={_quote(label)}]" if label else ""
        lines.append(f"  {source} -> {target}{attr};")
    lines.append("}")
    return Graph("\n".join(lines) + "\n")
