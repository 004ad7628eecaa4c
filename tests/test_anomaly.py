"""Anomaly mode names the first op that made a NaN/inf, forward or backward, and the user's line."""
import threading

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import autograd


class PlantedNaNBackward(tg.Function):
    """Identity forward; backward plants a NaN in its gradient."""

    def forward(ctx, x):
        return x.copy()

    def backward(ctx, g):
        out = g.copy()
        out.flat[0] = np.nan
        return out


def test_forward_nan_names_op_shapes_and_line():
    x = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    with tg.detect_anomaly():
        y = x * 2
        with pytest.raises(tg.AnomalyError) as info, np.errstate(invalid="ignore"):
            z = (y - 5).log()  # PLANTED-FORWARD
    e = info.value
    assert e.op == "log" and e.phase == "forward"
    assert e.input_shapes == [(2, 2)] and e.output_shapes == [(2, 2)]
    message = str(e)
    assert "'log'" in message and "nan" in message and "from finite inputs" in message
    assert "PLANTED-FORWARD" in message and "test_anomaly.py" in message
    assert e.trace[-1].line.endswith("# PLANTED-FORWARD")


def test_backward_nan_names_the_node_and_where_it_was_created():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with tg.detect_anomaly():
        h = x.tanh()
        y = PlantedNaNBackward.apply(h)  # PLANTED-BACKWARD
        loss = (y * 3).sum()
        with pytest.raises(tg.AnomalyError) as info:
            loss.backward()
    e = info.value
    assert e.op == "plantednanbackward" and e.phase == "backward"
    assert "from finite output gradients" in str(e)
    assert "PLANTED-BACKWARD" in str(e)


@pytest.mark.parametrize("engine", ["graph", "compiled", "fused"])
def test_backward_inf_in_a_builtin_op_after_an_lstm(engine):
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(2, 3, engine=engine)
    x = tg.randn(4, 1, 2)
    with tg.detect_anomaly():
        out, _ = lstm(x)
        loss = out[-1].abs().sqrt().sum() + tg.tensor(np.zeros((1, 3)), requires_grad=True).sqrt().sum()
        with pytest.raises(tg.AnomalyError) as info, np.errstate(divide="ignore", invalid="ignore"):
            loss.backward()
    assert info.value.op == "sqrt" and info.value.phase == "backward"


@pytest.mark.parametrize("engine, op", [("graph", "linear"), ("compiled", "linear"),
                                        ("fused", "fused_recurrent")])
def test_forward_nan_inside_a_recurrent_layer_on_every_engine(engine, op):
    """A NaN weight inside the recurrence is found on every engine, with the user's line: op by
    op and compiled at the cell's own op (the compiled scan checks each op it replays), fused at
    the kernel's node."""
    tg.manual_seed(0)
    lstm = tg.nn.LSTM(2, 3, engine=engine)
    lstm.weight_hh_l0.data[0, 0] = np.nan
    x = tg.randn(4, 1, 2)
    with tg.detect_anomaly(), pytest.raises(tg.AnomalyError) as info, \
            np.errstate(invalid="ignore"):
        lstm(x)  # PLANTED-LAYER
    e = info.value
    assert e.op == op and e.phase == "forward", str(e)
    assert e.trace[-1].line.endswith("# PLANTED-LAYER")


def test_off_by_default_and_after_the_block_and_nesting():
    assert autograd._anomaly is None and not tg.is_anomaly_enabled()
    with tg.detect_anomaly():
        with tg.detect_anomaly():
            assert tg.is_anomaly_enabled()
        assert tg.is_anomaly_enabled() and autograd._anomaly is not None
    assert autograd._anomaly is None and not tg.is_anomaly_enabled()
    x = tg.tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.log()  # no mode: NaN passes silently, no stack captured
    assert np.isnan(y.item()) and not hasattr(y._ctx, "_anomaly_trace")


def test_decorator():
    @tg.detect_anomaly()
    def f(x):
        return x.sqrt()

    with pytest.raises(tg.AnomalyError), np.errstate(invalid="ignore"):
        f(tg.tensor([-1.0]))
    assert not tg.is_anomaly_enabled()


def test_per_thread():
    """One thread's mode neither checks nor raises in another thread."""
    inside, outside = threading.Event(), threading.Event()
    seen = {}

    def other():
        inside.wait()
        with np.errstate(invalid="ignore"):
            y = tg.tensor([-1.0], requires_grad=True).log()
        seen["nan"] = bool(np.isnan(y.item()))
        seen["enabled"] = tg.is_anomaly_enabled()
        outside.set()

    thread = threading.Thread(target=other)
    thread.start()
    with tg.detect_anomaly():
        inside.set()
        outside.wait(10)
    thread.join()
    assert seen == {"nan": True, "enabled": False}
