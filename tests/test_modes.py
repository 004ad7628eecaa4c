"""Grad mode is per thread and train mode per module, as in PyTorch.

The threads interleave in a fixed order through events: no sleeps, so each test is the same
schedule every run.
"""
import threading

import numpy as np
import pytest

import tinygrad_seq as tg

TIMEOUT = 30  # seconds: a step that never comes is a failure, not a hang


def _run(*targets):
    """Start a thread per target, join them, and re-raise the first error any of them met."""
    errors = []

    def guarded(fn):
        def body():
            try:
                fn()
            except BaseException as error:  # noqa: BLE001 - handed back to the test
                errors.append(error)
        return body

    threads = [threading.Thread(target=guarded(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread did not finish"
    if errors:
        raise errors[0]


def _wait(event):
    assert event.wait(TIMEOUT), "the other thread never reached its step"


def test_no_grad_in_one_thread_does_not_stop_another_from_recording():
    """An evaluator inside no_grad() beside a trainer: the trainer's graph is whole and every
    weight gets its gradient."""
    evaluator_inside, trainer_done = threading.Event(), threading.Event()
    seen = {}

    def evaluator():
        with tg.no_grad():
            evaluator_inside.set()
            _wait(trainer_done)
            seen["evaluator"] = tg.is_grad_enabled()

    def trainer():
        _wait(evaluator_inside)
        seen["trainer"] = tg.is_grad_enabled()
        lstm = tg.nn.LSTM(3, 4)
        out, _ = lstm(tg.randn(5, 2, 3))
        out.sum().backward()
        seen["grads"] = [p.grad is not None for p in lstm.parameters()]
        trainer_done.set()

    _run(evaluator, trainer)
    assert seen == {"evaluator": False, "trainer": True, "grads": [True] * 4}


def test_blocks_exiting_out_of_order_across_threads_restore_each_threads_mode():
    """A enters no_grad, B enters no_grad, A exits, B exits: with one global mode B's exit
    restored A's "off" and left grad mode off for the whole process."""
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    def thread_a():
        with tg.no_grad():
            a_in.set()
            _wait(b_in)
        after["a"] = tg.is_grad_enabled()
        a_out.set()

    def thread_b():
        _wait(a_in)
        with tg.no_grad():
            b_in.set()
            _wait(a_out)
        after["b"] = tg.is_grad_enabled()

    _run(thread_a, thread_b)
    assert after == {"a": True, "b": True}
    assert tg.is_grad_enabled()
    fresh = {}
    _run(lambda: fresh.setdefault("mode", tg.is_grad_enabled()))
    assert fresh["mode"] is True


def test_one_no_grad_object_entered_by_two_threads():
    """A module-level ``no_grad()`` shared by two threads, or a decorated function called from
    both: each thread gets its own mode back."""
    shared = tg.no_grad()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    after = {}

    @tg.no_grad()
    def decorated(then):
        inside = tg.is_grad_enabled()
        then()
        return inside

    def thread_a():
        with shared:
            a_in.set()
            _wait(b_in)
        after["a"] = (tg.is_grad_enabled(), decorated(lambda: None))
        a_out.set()

    def thread_b():
        _wait(a_in)
        with shared:
            b_in.set()
            _wait(a_out)
        after["b"] = tg.is_grad_enabled()

    _run(thread_a, thread_b)
    assert after == {"a": (True, False), "b": True}


def test_enable_grad_inside_no_grad_is_per_thread():
    a_in, b_checked = threading.Event(), threading.Event()
    seen = {}

    def thread_a():
        with tg.no_grad(), tg.enable_grad():
            a_in.set()
            _wait(b_checked)
            seen["a"] = tg.is_grad_enabled()

    def thread_b():
        _wait(a_in)
        with tg.no_grad():
            seen["b"] = tg.is_grad_enabled()
            b_checked.set()

    _run(thread_a, thread_b)
    assert seen == {"a": True, "b": False}


def test_a_frozen_teacher_in_eval_mode_beside_a_student_in_train_mode():
    """Knowledge distillation: the teacher's dropout is off, the student's on, at once."""
    tg.manual_seed(0)
    teacher = tg.nn.LSTM(3, 8, num_layers=2, dropout=0.5).eval()
    student = tg.nn.LSTM(3, 8, num_layers=2, dropout=0.5)
    x = tg.randn(6, 4, 3)
    with tg.no_grad():
        np.testing.assert_array_equal(teacher(x)[0].numpy(), teacher(x)[0].numpy())
    assert not np.array_equal(student(x)[0].numpy(), student(x)[0].numpy())
    assert student.training and not teacher.training


def test_an_encoder_in_eval_mode_while_the_decoder_trains():
    class Seq2Seq(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = tg.nn.Sequential(tg.nn.Linear(4, 16), tg.nn.Dropout(0.5))
            self.decoder = tg.nn.Sequential(tg.nn.Linear(16, 16), tg.nn.Dropout(0.5))

        def forward(self, x):
            return self.decoder(self.encoder(x))

    model = Seq2Seq()
    model.encoder.eval()
    x = tg.ones(200, 4)
    np.testing.assert_array_equal(model.encoder(x).numpy(), model.encoder(x).numpy())
    out = model(x).numpy()
    assert (out == 0).any()                                # the decoder still drops
    model.eval()
    np.testing.assert_array_equal(model(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("make", [
    lambda: tg.nn.GRU(3, 8, num_layers=2, dropout=0.5, variational_dropout=True),
    lambda: tg.nn.Recurrent([tg.nn.GRUCell(3, 8), tg.nn.GRUCell(8, 8)], dropout=0.5),
], ids=["gru", "recurrent"])
def test_sequence_layer_dropout_reads_the_layers_own_flag(make):
    """A layer in train mode drops between its layers even when another model is in eval mode
    (with a global mode it did not)."""
    tg.manual_seed(1)
    layer = make()
    tg.nn.Dropout(0.5).eval()
    x = tg.randn(5, 3, 3)
    assert not np.array_equal(layer(x)[0].numpy(), layer(x)[0].numpy())
