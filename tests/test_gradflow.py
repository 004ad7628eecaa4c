"""The gradient-flow inspector against BPTT by hand (Goodfellow et al. 2016, §10.2.2)."""
import numpy as np
import pytest

import tinygrad_seq as tg


def _tiny_rnn(seed=0, inputs=2, hidden=3):
    tg.manual_seed(seed)
    rnn = tg.nn.RNN(inputs, hidden).to(dtype=tg.float64)
    head = tg.nn.Linear(hidden, 2).to(dtype=tg.float64)
    return rnn, head


def _by_hand(rnn, head, x, y):
    """∇_{h(t)} L for L = Σ_t ½‖V h_t + c − y_t‖², by the recursion of Goodfellow et al. §10.2.2:
    ∇_{h(τ)} = Vᵀ∇_{o(τ)};  ∇_{h(t)} = Wᵀ diag(1 − h_{t+1}²) ∇_{h(t+1)} + Vᵀ∇_{o(t)}."""
    U, W = rnn.weight_ih_l0.numpy(), rnn.weight_hh_l0.numpy()
    b = rnn.bias_ih_l0.numpy() + rnn.bias_hh_l0.numpy()
    V, c = head.weight.numpy(), head.bias.numpy()
    T, B, _ = x.shape
    h = np.zeros((B, W.shape[0]))
    hs = []
    for t in range(T):
        h = np.tanh(x[t] @ U.T + h @ W.T + b)
        hs.append(h)
    grads = [None] * T
    for t in reversed(range(T)):
        g = (hs[t] @ V.T + c - y[t]) @ V                        # Vᵀ ∇_o(t), row-vector form
        if t + 1 < T:
            g = g + (grads[t + 1] * (1 - hs[t + 1] ** 2)) @ W   # Wᵀ diag(1 − h²) ∇_h(t+1)
        grads[t] = g
    return hs, np.stack(grads)


def test_grad_norms_equal_hand_written_bptt():
    rnn, head = _tiny_rnn()
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 2, 2)), rng.standard_normal((6, 2, 2))
    flow = tg.inspect.gradient_flow(
        rnn, tg.tensor(x, dtype=tg.float64), lambda out, h: 0.5 * ((head(out) - tg.tensor(y, dtype=tg.float64)) ** 2).sum())
    _, grads = _by_hand(rnn, head, x, y)
    expected = np.sqrt((grads ** 2).sum(axis=2))                 # (T, B)
    assert flow.keys() == [("l0", 0)]
    np.testing.assert_allclose(flow.grad_norm_per_sequence[("l0", 0)], expected, rtol=1e-10)
    np.testing.assert_allclose(flow.grad_norm[("l0", 0)], np.sqrt((expected ** 2).sum(1)), rtol=1e-10)
    np.testing.assert_array_equal(flow.distance[("l0", 0)], np.arange(6)[::-1])
    assert flow.grad_norm[(0, 0)] is flow.grad_norm[("l0", 0)]    # the older key, unambiguous here
    ratio = flow.ratio()
    assert ratio[0] == 1 and ratio.shape == (6,)


def test_jacobian_probe_estimate_matches_the_product_of_jacobians():
    rnn, head = _tiny_rnn(seed=3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 2, 2))
    flow = tg.inspect.gradient_flow(rnn, tg.tensor(x, dtype=tg.float64), lambda out, h: out[-1].sum(),
                                    probes=400)
    hs, _ = _by_hand(rnn, head, x, np.zeros((5, 2, 2)))
    W = rnn.weight_hh_l0.numpy()
    exact = []
    for t in range(5):
        per_seq = []
        for b in range(2):
            J = np.eye(3)                                       # ∂h_T/∂h_t = Π diag(1 − h²) W
            for s in range(t + 1, 5):
                J = np.diag(1 - hs[s][b] ** 2) @ W @ J
            per_seq.append((J ** 2).sum())
        exact.append(np.sqrt(np.mean(per_seq)))
    np.testing.assert_allclose(flow.jacobian_norm[("l0", 0)], exact, rtol=0.2)
    assert flow.jacobian_norm[("l0", 0)][-1] == pytest.approx(np.sqrt(3), rel=0.2)  # ‖I‖_F


def test_layers_directions_and_restored_layer():
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    flow = tg.inspect.gradient_flow(lstm, tg.randn(7, 2, 3), lambda out, s: out[-1].sum(),
                                    probes=1, part=1)
    assert sorted(flow.keys()) == [("l0", 0), ("l0", 1), ("l1", 0), ("l1", 1)]
    # the last layer's reverse direction reaches out[-1] only through its first step, t = T − 1
    g = flow.grad_norm[("l1", 1)]
    assert g[-1] > 0 and np.all(g[:-1] == 0)
    np.testing.assert_array_equal(flow.distance[("l1", 1)], np.arange(7))
    assert lstm.engine == "auto" and all("step" not in c.__dict__ for l in lstm.cells_by_layer
                                          for c in l)


def _squares(out, state):
    return (out ** 2).sum()


@pytest.mark.parametrize("kind, engine", [
    ("mixed stack", "compiled"), ("mixed stack", "graph"),
    ("lstm", "fused"), ("lstm", "compiled"), ("lstm", "graph")])
def test_recurrent_stack_of_mixed_cells_and_lstm_give_same_loss_on_every_engine(kind, engine):
    """Measuring runs the same computation whatever the layer's engine (the measurement runs
    op by op, and the engine is restored after): the loss, and the parameters' gradients from
    its graph, equal those of a plain run on the declared cells (engine="graph")."""
    tg.manual_seed(0)
    if kind == "mixed stack":
        layer = tg.nn.Recurrent([tg.nn.GRUCell(3, 5), tg.nn.RNNCell(5, 4, nonlinearity="relu")],
                                engine=engine)
        declared = tg.nn.Recurrent([tg.nn.GRUCell(3, 5), tg.nn.RNNCell(5, 4, nonlinearity="relu")],
                                   engine="graph")
    else:
        layer = tg.nn.LSTM(3, 4, num_layers=2, engine=engine)
        declared = tg.nn.LSTM(3, 4, num_layers=2, engine="graph")
    declared.load_state_dict(layer.state_dict())
    layer, declared = layer.to(dtype=tg.float64), declared.to(dtype=tg.float64)
    x = tg.randn(4, 2, 3, dtype=tg.float64)
    losses = []
    flow = tg.inspect.gradient_flow(layer, x, lambda out, s: losses.append(_squares(out, s)) or losses[-1],
                                    probes=1)     # probes keep the graph, to walk it once more
    assert flow.keys() == [("l0", 0), ("l1", 0)]
    assert all(v.shape == (4,) for v in flow.grad_norm.values()) and layer.engine == engine
    losses[0].backward()
    measured = {name: p.grad.numpy().copy() for name, p in layer.named_parameters()}
    layer.zero_grad()

    reference = _squares(*declared(x))
    reference.backward()
    assert losses[0].item() == pytest.approx(reference.item(), rel=1e-12)
    for name, p in declared.named_parameters():
        np.testing.assert_allclose(measured[name], p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    # and at the last step the gradient that reaches h_T of the last layer is ∂L/∂out[T] = 2 out[T]
    out, _ = declared(x)
    assert flow.grad_norm[("l1", 0)][-1] == pytest.approx(np.linalg.norm(2 * out[-1].numpy()), rel=1e-10)


class _TwoLayers(tg.nn.Module):
    """Two separate sequence layers, one after the other."""

    def __init__(self):
        super().__init__()
        self.a, self.b = tg.nn.RNN(3, 4), tg.nn.RNN(4, 4)

    def forward(self, x, state=None):
        out, _ = self.a(x)
        return self.b(out)


def test_two_separate_sequence_layers_are_measured_apart():
    tg.manual_seed(0)
    model = _TwoLayers().to(dtype=tg.float64)
    x = tg.randn(5, 2, 3, dtype=tg.float64)
    flow = tg.inspect.gradient_flow(model, x, _squares)
    assert flow.keys() == [("a.l0", 0), ("b.l0", 0)]
    for key in flow.keys():
        assert flow.grad_norm[key].shape == (5,) and flow.grad_norm_per_sequence[key].shape == (5, 2)
        np.testing.assert_array_equal(flow.distance[key], np.arange(5)[::-1])
    with pytest.raises(KeyError, match="ambiguous"):       # (0, 0) could be either layer
        flow.grad_norm[(0, 0)]
    with pytest.raises(ValueError, match="several"):
        flow.ratio()
    # each equals what the layer measured alone gives: b on a's output, a with b in its loss
    with tg.no_grad():
        hidden = model.a(x)[0].detach()
    alone_b = tg.inspect.gradient_flow(model.b, hidden, _squares)
    alone_a = tg.inspect.gradient_flow(model.a, x, lambda out, s: _squares(*model.b(out)))
    np.testing.assert_allclose(flow.grad_norm[("b.l0", 0)], alone_b.grad_norm[("l0", 0)], rtol=1e-12)
    np.testing.assert_allclose(flow.grad_norm[("a.l0", 0)], alone_a.grad_norm[("l0", 0)], rtol=1e-12)


def test_layer_restored_after_an_error_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    gru = tg.nn.GRU(2, 3)
    with pytest.raises(ValueError, match="single-element"):
        tg.inspect.gradient_flow(gru, tg.randn(3, 2, 2), lambda out, s: out)
    assert gru.engine == "auto" and "step" not in gru.cells_by_layer[0][0].__dict__
    flow = tg.inspect.gradient_flow(gru, tg.randn(3, 2, 2), lambda out, s: out.sum(), probes=1)
    flow.plot(tmp_path / "flow.png")
    assert (tmp_path / "flow.png").stat().st_size > 0


class _OwnLoop(tg.nn.Module):
    """A model that runs a cell over time with tg.scan itself, not through a sequence layer."""

    def __init__(self, engine):
        super().__init__()
        self.cell, self.engine = tg.nn.GRUCell(3, 4), engine

    def forward(self, x, state=None):
        def step(h, x_proj):
            out, h = self.cell.step(x_proj, h)
            return h, out
        h, outs = tg.scan(step, tg.zeros(x.shape[1], 4, dtype=x.dtype), self.cell.project(x),
                          engine=self.engine)
        return outs, h


def test_a_loop_of_the_models_own_is_measured_op_by_op_saying_so():
    """A model's own ``tg.scan`` over a cell: on "auto" the recording cannot keep every step's
    state, so the scan runs op by op with a warning naming record_steps, and the measurement
    equals that of the same model run on "graph"; on "compiled" it raises."""
    tg.manual_seed(0)
    model = _OwnLoop("auto").to(dtype=tg.float64)
    x = tg.randn(5, 2, 3, dtype=tg.float64)
    with pytest.warns(tg.ScanFallbackWarning, match="record_steps"):
        flow = tg.inspect.gradient_flow(model, x, _squares)
    model.engine = "graph"
    expected = tg.inspect.gradient_flow(model, x, _squares)
    assert flow.keys() == [("cell", 0)] and flow.grad_norm[("cell", 0)].shape == (5,)
    np.testing.assert_array_equal(flow.grad_norm[("cell", 0)], expected.grad_norm[("cell", 0)])
    model.engine = "compiled"
    with pytest.raises(tg.Untraceable, match="record_steps"):
        tg.inspect.gradient_flow(model, x, _squares)
    assert "step" not in model.cell.__dict__
