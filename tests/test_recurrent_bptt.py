"""Back-propagation through time: chunks carrying the state, truncated BPTT and detach, the
explicit BPTT equations of Goodfellow et al. 2016, §10.2.2, long sequences, and no memory growth
across training steps."""
import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygrad_seq as tg
from tinygrad_seq.nn.utils import detach_state

from recurrent_cases import (KINDS, examples, flat, flatten_state, layer_cases, layout, np_lengths,
                             required_case, unflatten_state, upstream_like, weighted_sum)

TIGHT = dict(rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- chunks

def chunked(layer, x, sizes, lengths, state, detach=False):
    """Run ``layer`` over consecutive time chunks of ``x`` (``sizes`` steps each), carrying the
    state (cut from the graph between chunks with ``detach``): (outputs per chunk, final state)."""
    axis = 1 if layer.batch_first else 0
    outs, start = [], 0
    steps, batch = x.shape[axis], x.shape[1 - axis]
    for size in sizes:
        # one slice per chunk (not one split op shared by all): truncated BPTT walks and
        # releases each chunk's graph on its own
        part = x[:, start:start + size] if axis else x[start:start + size]
        part_lengths = None if lengths is None else np.clip(
            np_lengths(lengths, batch, steps) - start, 0, size)
        out, state = layer(part, state, lengths=part_lengths)
        outs.append(out)
        state = detach_state(state) if detach else state
        start += size
    return outs, state


def leaves(case):
    """Fresh leaves for the case's input (in the layer's layout) and initial state."""
    x = tg.tensor(layout(case.x, case.config.batch_first).numpy(), dtype="float64",
                  requires_grad=True)
    state = case.state
    if state is not None:
        state = unflatten_state(state, [p.detach().requires_grad_() for p in flatten_state(state)])
    return x, state


def check_two_chunks_equal_one_run(case, split):
    """Without detach, running [0, k) then [k, T) from the carried state is the full run:
    outputs, final state, and gradients w.r.t. input, initial state and every parameter."""
    steps = case.x.shape[0]
    sizes = [split, steps - split] if 0 < split < steps else [steps]
    x, state = leaves(case)
    wrt = [x] + list(flatten_state(state) if state is not None else ()) + list(case.layer.parameters())
    full = flat(case.layer(x, state, lengths=case.lengths))
    outs, final = chunked(case.layer, x, sizes, case.lengths, state)
    pieces = (tg.concatenate(outs, axis=1 if case.config.batch_first else 0),) + flatten_state(final)
    for got, expected in zip(pieces, full):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), **TIGHT)
    upstream = upstream_like(full, np.random.default_rng(case.seed))
    full_grads = tg.grad(weighted_sum(full, upstream), wrt, allow_unused=True)
    chunk_grads = tg.grad(weighted_sum(pieces, upstream), wrt, allow_unused=True)
    for got, expected in zip(chunk_grads, full_grads):
        assert (got is None) == (expected is None)
        if got is not None:
            np.testing.assert_allclose(got.numpy(), expected.numpy(), **TIGHT)


@pytest.mark.parametrize("kind", KINDS)
@examples(10)
@given(data=st.data())
def test_two_chunks_carrying_the_state_equal_one_run(kind, data):
    case = data.draw(layer_cases(kinds=(kind,), max_steps=5, bidirectional=False))
    check_two_chunks_equal_one_run(case, data.draw(st.integers(1, case.x.shape[0]), label="split"))


@pytest.mark.parametrize("name", ["lstm_proj_batch_first", "lstm_peephole_no_forget_gate",
                                  "gru_reset_before", "rnn_relu_no_bias", "mgu", "mixed_stack"])
def test_two_chunks_carrying_the_state_equal_one_run_required(name):
    """Two stacked layers, lengths [4, 0, 2]: the third sequence ends in the first chunk."""
    check_two_chunks_equal_one_run(required_case(name, bidirectional=False), split=2)


def check_truncated_bptt(case, chunk):
    """Truncated BPTT (backward per chunk, state detached between chunks) with one chunk of at
    least T steps accumulates exactly the full BPTT gradients; with one-step chunks the first
    step's input gradient lacks the later losses (the truncation is real)."""
    steps, layer = case.x.shape[0], case.layer

    def truncated(chunk):
        x, state = leaves(case)
        layer.zero_grad()
        sizes = [chunk] * (steps // chunk) + ([steps % chunk] if steps % chunk else [])
        outs, _ = chunked(layer, x, sizes, case.lengths, state, detach=True)
        for out, u in zip(outs, upstream_like(outs, np.random.default_rng(case.seed))):
            (out * u).sum().backward()
        return [x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()]

    x, state = leaves(case)
    layer.zero_grad()
    out, _ = layer(x, state, lengths=case.lengths)
    (out * upstream_like([out], np.random.default_rng(case.seed))[0]).sum().backward()
    full = [x.grad.numpy()] + [p.grad.numpy() for p in layer.parameters()]
    for got, expected in zip(truncated(chunk), full):
        np.testing.assert_allclose(got, expected, **TIGHT)
    if steps > 1 and case.config.kind != "rnn_relu":  # dead ReLU units may pass nothing back
        assert not np.allclose(truncated(1)[0], full[0], **TIGHT)


@pytest.mark.parametrize("kind", KINDS)
@examples(8)
@given(data=st.data(), extra=st.integers(0, 3))
def test_truncated_bptt_with_one_chunk_equals_full_bptt(kind, data, extra):
    case = data.draw(layer_cases(kinds=(kind,), max_steps=5, bidirectional=False))
    check_truncated_bptt(case, case.x.shape[0] + extra)


def check_detach_cuts(case):
    """Chunk 2 starts from the detached final state of chunk 1: the gradient of chunk 2's loss
    w.r.t. chunk 1's input is exactly zero, and chunk 1's input gradient from the total loss is
    exactly its own loss's gradient. Without the detach (control) the gradient flows back."""
    layer, lengths, rng = case.layer, case.lengths, np.random.default_rng(case.seed)
    (first, state), (second, _) = leaves(case), leaves(case)
    out1, carried = layer(first, state, lengths=lengths)
    out2, _ = layer(second, detach_state(carried), lengths=lengths)
    loss1 = weighted_sum([out1], upstream_like([out1], rng))
    loss2 = weighted_sum([out2], upstream_like([out2], rng))
    (cut,) = tg.grad(loss2, [first], retain_graph=True, allow_unused=True)
    assert cut is None or not cut.numpy().any()
    (own,) = tg.grad(loss1, [first], retain_graph=True)
    (loss1 + loss2).backward()
    np.testing.assert_array_equal(first.grad.numpy(), own.numpy())
    assert second.grad is not None
    if case.config.kind != "rnn_relu":
        _, carried = layer(first, state, lengths=lengths)
        out2, _ = layer(second, carried, lengths=lengths)
        (through,) = tg.grad(weighted_sum([out2], upstream_like([out2], rng)), [first])
        assert through.numpy().any()


@pytest.mark.parametrize("kind", KINDS)
@examples(8)
@given(data=st.data())
def test_detach_state_cuts_the_gradient_to_exactly_zero(kind, data):
    check_detach_cuts(data.draw(layer_cases(kinds=(kind,), max_steps=4, bidirectional=False)))


@pytest.mark.parametrize("name", ["lstm_proj_batch_first", "gru", "mgu", "mixed_stack"])
def test_detach_state_cuts_the_gradient_to_exactly_zero_required(name):
    check_detach_cuts(required_case(name, bidirectional=False))


def test_detach_state_keeps_the_structure():
    h, c = tg.randn(1, 2, 3, requires_grad=True) * 2, tg.randn(1, 2, 3, requires_grad=True) * 2
    detached = detach_state((h, [c, None]))
    assert isinstance(detached, tuple) and isinstance(detached[1], list) and detached[1][1] is None
    assert not detached[0].requires_grad and not detached[1][0].requires_grad
    np.testing.assert_array_equal(detached[0].numpy(), h.numpy())
    with pytest.raises(TypeError, match="detach_state: expected a tensor"):
        detach_state({"h": h})


# ------------------------------------------------- Goodfellow et al.'s equations (§10.2.2)

def textbook_bptt(x, y, h0, U, W, b, V, c):
    """Goodfellow et al. §10.2.2 written out in NumPy, batched: a_t = U x_t + W h_{t-1} + b,
    h_t = tanh(a_t), o_t = V h_t + c, L = sum_t cross-entropy(softmax(o_t), y_t); then
    ∇_o L = ŷ − 1_y, ∇_h(τ) = Vᵀ∇_o(τ), ∇_h(t) = Wᵀ diag(1 − h(t+1)²) ∇_h(t+1) + Vᵀ∇_o(t), and
    the parameter gradients as sums over time."""
    steps = x.shape[0]
    h = [h0]
    probs = []
    for t in range(steps):
        h.append(np.tanh(x[t] @ U.T + h[-1] @ W.T + b))
        o = h[-1] @ V.T + c
        e = np.exp(o - o.max(axis=-1, keepdims=True))
        probs.append(e / e.sum(axis=-1, keepdims=True))
    loss = -sum(np.log(probs[t][np.arange(len(y[t])), y[t]]).sum() for t in range(steps))
    grads = dict(U=np.zeros_like(U), W=np.zeros_like(W), b=np.zeros_like(b), V=np.zeros_like(V),
                 c=np.zeros_like(c), x=np.zeros_like(x))
    grad_h_next = np.zeros_like(h0)   # ∇_h(t+1) L, through h(t+1) only
    for t in reversed(range(steps)):
        grad_o = probs[t] - np.eye(V.shape[0])[y[t]]                   # ŷ − 1_y
        grad_h = grad_o @ V                                            # Vᵀ∇_o
        if t + 1 < steps:
            grad_h += (grad_h_next * (1 - h[t + 2] ** 2)) @ W          # Wᵀ diag(1 − h²) ∇_h(t+1)
        grad_a = grad_h * (1 - h[t + 1] ** 2)
        grads["c"] += grad_o.sum(0)
        grads["V"] += grad_o.T @ h[t + 1]
        grads["b"] += grad_a.sum(0)
        grads["W"] += grad_a.T @ h[t]
        grads["U"] += grad_a.T @ x[t]
        grads["x"][t] = grad_a @ U
        grad_h_next = grad_h
    grads["h0"] = (grad_h_next * (1 - h[1] ** 2)) @ W
    return loss, grads


@examples(10)
@given(steps=st.integers(1, 6), batch=st.integers(1, 3), input_size=st.integers(1, 4),
       hidden_size=st.integers(1, 5), classes=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_rnn_gradients_equal_the_textbook_bptt_equations(steps, batch, input_size, hidden_size,
                                                         classes, seed):
    """tg.nn.RNN + tg.nn.Linear trained on per-step cross-entropy: the graph's gradients are
    the textbook's hand recursion (b = bias_ih + bias_hh gets ∇b in both)."""
    rng = np.random.default_rng(seed)
    tg.manual_seed(seed)
    rnn = tg.nn.RNN(input_size, hidden_size).double()
    head = tg.nn.Linear(hidden_size, classes).double()
    x = rng.standard_normal((steps, batch, input_size))
    h0 = rng.uniform(-1, 1, (1, batch, hidden_size))
    y = rng.integers(0, classes, (steps, batch))
    x_leaf = tg.tensor(x, dtype="float64", requires_grad=True)
    h0_leaf = tg.tensor(h0, dtype="float64", requires_grad=True)
    out, _ = rnn(x_leaf, h0_leaf)
    log_probs = head(out).log_softmax(axis=-1)
    loss = -(log_probs * tg.one_hot(tg.tensor(y), classes, dtype="float64")).sum()
    loss.backward()

    expected_loss, expected = textbook_bptt(
        x, y, h0[0], rnn.weight_ih_l0.numpy(), rnn.weight_hh_l0.numpy(),
        rnn.bias_ih_l0.numpy() + rnn.bias_hh_l0.numpy(), head.weight.numpy(), head.bias.numpy())
    close = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.item(), expected_loss, **close)
    for got, name in ((rnn.weight_ih_l0, "U"), (rnn.weight_hh_l0, "W"), (rnn.bias_ih_l0, "b"),
                      (rnn.bias_hh_l0, "b"), (head.weight, "V"), (head.bias, "c")):
        np.testing.assert_allclose(got.grad.numpy(), expected[name], err_msg=name, **close)
    np.testing.assert_allclose(x_leaf.grad.numpy(), expected["x"], **close)
    np.testing.assert_allclose(h0_leaf.grad.numpy()[0], expected["h0"], **close)


# ---------------------------------------------------------------- long sequences, memory

def test_two_thousand_step_lstm_trains():
    """Forward and backward through 2,000 steps (a graph far deeper than Python's recursion
    limit) finishes, every gradient is finite and non-zero (down to the first step), and three
    Adam steps on those gradients lower the loss."""
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(2, 3)
    opt = tg.optim.Adam(lstm.parameters(), lr=0.05)
    x = tg.randn(2000, 1, 2, requires_grad=True)
    losses = []
    for _ in range(3):
        out, (h, c) = lstm(x)
        loss = ((out - 0.5) * (out - 0.5)).mean() + (h * h).sum() + (c * c).sum()
        opt.zero_grad()
        x.grad = None
        loss.backward()
        for name, p in lstm.named_parameters():
            assert np.isfinite(p.grad.numpy()).all() and p.grad.numpy().any(), name
        assert np.isfinite(x.grad.numpy()).all() and x.grad.numpy()[0].any()
        opt.step()
        losses.append(loss.item())
    assert losses[2] < losses[0], losses


def test_memory_does_not_grow_across_training_iterations():
    """200 forward/backward/SGD iterations after a warm-up leave the traced memory where it
    was: the bound (1/20 of a graph per iteration) is far below what keeping even a small part
    of each iteration's graph alive would cost, which the test measures first."""
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(3, 4, num_layers=2)
    head = tg.nn.Linear(4, 2)
    params = list(lstm.parameters()) + list(head.parameters())
    x, target = tg.randn(5, 2, 3), tg.randn(5, 2, 2)

    def step():
        out, _ = lstm(x, lengths=[5, 3])
        loss = ((head(out) - target) ** 2).mean()
        loss.backward()
        for p in params:
            p.data = p.data - 0.01 * p.grad.data
            p.grad = None
        return loss

    tracemalloc.start()
    try:
        for _ in range(20):
            step()
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        out, _ = lstm(x, lengths=[5, 3])
        graph = ((head(out) - target) ** 2).mean()
        graph_bytes = tracemalloc.get_traced_memory()[0] - before   # one iteration's graph
        del out, graph
        # a full collection also empties the interpreter's free lists (tuples, floats, ...),
        # which fill up over the first iterations and would read as growth
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        first = float(step().item())
        for _ in range(198):
            step()
        last = float(step().item())
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    bound = 200 * graph_bytes // 20
    assert graph_bytes > 10_000, f"one graph should cost memory, measured {graph_bytes} bytes"
    assert growth < bound, (f"traced memory grew by {growth} bytes over 200 iterations; leaking "
                            f"one graph per iteration would cost {200 * graph_bytes}")
    assert last < first
