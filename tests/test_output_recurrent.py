"""Goodfellow's pattern 2 (models/output_recurrent.py): under teacher forcing every step is
independent of the others (no BPTT), at inference it runs free; both networks train."""
import os

import numpy as np
import pytest

import tinygrad_seq as tg
from models import output_recurrent
from tinygrad_seq import train as trainer
from tinygrad_seq.testing import assert_close
from models.output_recurrent import HiddenRecurrent, OutputRecurrent

pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)


def test_teacher_forced_steps_are_independent_so_training_needs_no_bptt():
    tg.manual_seed(0)
    net = OutputRecurrent(vocab_size=7, embedding_size=3, hidden_size=5)
    chars = np.array([[1, 2], [3, 4], [5, 6], [0, 1], [2, 3]])
    x = tg.tensor(chars)
    base = net(x, x).numpy()
    changed = chars.copy()
    changed[2] = [6, 0]
    y = tg.tensor(changed)
    other = net(y, y).numpy()
    differs = np.abs(other - base).max(axis=(1, 2)) > 0
    assert differs.tolist() == [False, False, True, False, False]
    # the loss of the last step has no gradient through any earlier step: one row of the
    # feedback table is touched per step, and only the last step's rows get a gradient
    logits = net(x, x)
    logits[4].sum().backward()
    touched = np.flatnonzero(np.abs(net.feedback.weight.grad.numpy()).sum(1))
    assert touched.tolist() == sorted(set(chars[4].tolist()))


def test_running_free_feeds_back_the_output_distribution():
    tg.manual_seed(0)
    net = OutputRecurrent(vocab_size=6, embedding_size=3, hidden_size=4)
    x = tg.tensor(np.array([[1, 2], [3, 4], [5, 0]]))
    with tg.no_grad():
        forced, free = net(x, x).numpy(), net.run_free(x, x[0]).numpy()
    # the same true first feedback, through two float32 Linear layers (3 and 4 products and a
    # bias), run on all steps at once in one and step by step in the other
    assert_close(free[0], forced[0], terms=(3 + 1) + (4 + 1))
    assert not np.allclose(free[1:], forced[1:], rtol=0, atol=0.01)   # then its own softmax


def test_hidden_recurrent_network_carries_context():
    tg.manual_seed(0)
    net = HiddenRecurrent(vocab_size=6, embedding_size=3, hidden_size=4)
    a, b = np.array([[1], [2], [3]]), np.array([[4], [2], [3]])
    with tg.no_grad():
        assert not np.allclose(net(tg.tensor(a)).numpy()[2], net(tg.tensor(b)).numpy()[2],
                               rtol=0, atol=0.01)


@pytest.mark.parametrize("model", ["output", "hidden"])
def test_smoke_runs(model, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 60)
    result = output_recurrent.main(["train", "--smoke", "--model", model, "--data", str(text),
                                    "--out", str(tmp_path / "r"), "--progress", "off"])
    assert result["step"] == 3 and {"val_bpc", "val_free_bpc", "accuracy"} <= set(result)
    assert os.path.getsize(tmp_path / "r" / "curves.png") > 0
