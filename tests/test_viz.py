"""tg.viz.graph: DOT that parses, parameters by name, one box per time step."""
import re

import numpy as np
import pytest

import tinygrad_seq as tg

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"(.*)\];$')
EDGE = re.compile(r'^\s*(\w+) -> (\w+)(?: \[label="((?:[^"\\]|\\.)*)"\])?;$')
ATTR = re.compile(r'^\s*(graph|node|edge) \[.*\];$')


def parse(source):
    """A small DOT reader for what viz writes: {id: label}, [(source, target, label)]."""
    lines = source.strip().splitlines()
    assert re.match(r"^digraph \w+ \{$", lines[0]) and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        if ATTR.match(line):
            continue
        m = NODE.match(line)
        if m:
            assert m.group(1) not in nodes, f"node {m.group(1)} declared twice"
            nodes[m.group(1)] = m.group(2).replace("\\n", "\n")
            continue
        m = EDGE.match(line)
        assert m, f"not a DOT statement viz writes: {line!r}"
        edges.append((m.group(1), m.group(2), m.group(3)))
    for s, t, _ in edges:
        assert s in nodes and t in nodes, f"edge {s} -> {t} to an undeclared node"
    return nodes, edges


def test_dot_parses_and_names_parameters():
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.Tanh(), tg.nn.Linear(4, 1))
    x = tg.randn(5, 3)
    loss = (model(x) ** 2).mean()
    nodes, edges = parse(tg.viz.graph(loss, params=dict(model.named_parameters())).source)
    labels = set(nodes.values())
    for name, p in model.named_parameters():
        assert f"{name}\n{p.shape}" in labels
    assert not any(l.startswith("input") for l in labels)  # x needs no grad: not in the graph
    ops = [l.split("\n")[0] for l in nodes.values()]
    assert ops.count("linear") == 2 and "tanh" in ops and "mean" in ops
    # every parameter feeds an op; the loss is the only sink
    targets = {t for _, t, _ in edges}
    sources = {s for s, _, _ in edges}
    assert [n for n in nodes if n not in sources] == [n for n in nodes if nodes[n].startswith("mean")]
    assert all(n in sources for n, l in nodes.items() if l.startswith(("0.", "2.")))
    assert targets


@pytest.mark.parametrize("engine", ["auto", "compiled", "graph"])
def test_steps_collapse_a_50_step_lstm(engine):
    """record_steps runs the layer op by op whatever its engine: 50 boxes, one per step."""
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(3, 4, engine=engine)
    with tg.inspect.record_steps(lstm) as steps:
        out, _ = lstm(tg.randn(50, 2, 3))
        loss = out[-1].sum()
    params = dict(lstm.named_parameters())
    full, _ = parse(tg.viz.graph(loss, params=params).source)
    boxed, edges = parse(tg.viz.graph(loss, params=params, steps=steps).source)
    step_boxes = [l for l in boxed.values() if " step " in l]
    assert len(step_boxes) == 50 and len(full) > 500 and len(boxed) < 70
    assert len({l.split(": ")[1] for l in step_boxes}) == 1  # every step has the same ops
    # the recurrence is a chain: box t feeds box t + 1
    ids = {l.split(":")[0].split()[-1]: n for n, l in boxed.items() if " step " in l}
    assert all(any(s == ids[str(t)] and d == ids[str(t + 1)] for s, d, _ in edges) for t in range(49))
    assert "weight_hh_l0\n(16, 4)" in boxed.values()


@pytest.mark.parametrize("engine", ["fused", "compiled", "graph"])
def test_a_layer_is_one_node_unless_op_by_op_and_graph_after_backward_fails(engine):
    """The fused kernel and the compiled scan draw as one box each (the input projection of a
    compiled scan and the parameters beside it); op by op, every step's ops are drawn."""
    lstm = tg.nn.LSTM(3, 4, engine=engine)
    out, _ = lstm(tg.randn(10, 2, 3))
    loss = out.sum()
    nodes, _ = parse(tg.viz.graph(loss).source)
    ops = [label.split("\n")[0] for label in nodes.values()]
    if engine == "graph":
        assert len(nodes) > 100
    else:
        assert len(nodes) < 15 and ops.count("fused_recurrent" if engine == "fused" else "scan") == 1
    loss.backward()
    with pytest.raises(RuntimeError, match="released by backward"):
        tg.viz.graph(loss)


def test_render_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    g = tg.viz.graph((tg.randn(2, requires_grad=True) * 2).sum())
    with pytest.raises(RuntimeError, match="dot program.*\\.source"):
        g.render(str(tmp_path / "g.svg"))
    path = g.save(str(tmp_path / "g.dot"))
    assert open(path).read() == g.source
