"""Goodfellow's pattern 2 (models/output_recurrent.py): under teacher forcing every step is
independent of the others (no BPTT); running free (inference, or training with --feedback free)
the gradient flows back through the fed-back outputs, the same under both scan engines; both
networks train."""
import os

import numpy as np
import pytest

import tinygrad_seq as tg
from models import output_recurrent
from tinygrad_seq import train as trainer
from tinygrad_seq.nn import functional as F
from tinygrad_seq.testing import assert_close
from models.output_recurrent import HiddenRecurrent, OutputRecurrent
from cli_cases import refused

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


def free_running_loss_and_gradients(engine):
    """The float64 loss of a free-running window and every parameter's gradient."""
    tg.manual_seed(0)
    net = OutputRecurrent(vocab_size=7, embedding_size=3, hidden_size=5, engine=engine).double()
    chars = np.random.default_rng(0).integers(0, 7, (7, 3))
    x = tg.tensor(chars[:-1])
    loss = F.cross_entropy(net.run_free(x, x[0]), tg.tensor(chars[1:]))
    loss.backward()
    return loss.item(), {name: p.grad.numpy() for name, p in net.named_parameters()}


def test_compiled_free_running_loop_equals_the_graph():
    (loss, grads), (ref_loss, ref_grads) = (free_running_loss_and_gradients(engine)
                                            for engine in ("compiled", "graph"))
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, atol=0)
    assert grads.keys() == ref_grads.keys()
    for name, ref in ref_grads.items():   # near zero, 1e-12 of the largest: terms cancel there
        np.testing.assert_allclose(grads[name], ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max(),
                                   err_msg=name)


def test_running_free_back_propagates_through_the_fed_back_outputs():
    # unlike teacher forcing, the last step's loss reaches the first step's input through the
    # softmax fed back at every step: the first character's embedding row gets a gradient
    tg.manual_seed(0)
    net = OutputRecurrent(vocab_size=7, embedding_size=3, hidden_size=5)
    chars = np.array([[1, 2], [3, 4], [5, 6], [3, 4]])
    net.run_free(tg.tensor(chars), tg.tensor(chars[0]))[-1].sum().backward()
    touched = np.flatnonzero(np.abs(net.embedding.weight.grad.numpy()).sum(1))
    assert touched.tolist() == sorted(set(chars.ravel().tolist()))


def test_engine_must_be_known():
    with pytest.raises(ValueError, match="engine must be one of .*'fused'"):
        OutputRecurrent(vocab_size=5, engine="fused")


def test_hidden_recurrent_network_carries_context():
    tg.manual_seed(0)
    net = HiddenRecurrent(vocab_size=6, embedding_size=3, hidden_size=4)
    a, b = np.array([[1], [2], [3]]), np.array([[4], [2], [3]])
    with tg.no_grad():
        assert not np.allclose(net(tg.tensor(a)).numpy()[2], net(tg.tensor(b)).numpy()[2],
                               rtol=0, atol=0.01)


@pytest.mark.parametrize("model, feedback", [("output", "forced"), ("output", "free"),
                                             ("hidden", "forced")])
def test_smoke_runs(model, feedback, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text("the cat sat on the mat. " * 60)
    result = output_recurrent.main(["train", "--smoke", "--model", model, "--feedback", feedback,
                                    "--data", str(text), "--out", str(tmp_path / "r"),
                                    "--progress", "off"])
    assert result["step"] == 3 and {"val_bpc", "val_free_bpc", "accuracy"} <= set(result)
    assert os.path.getsize(tmp_path / "r" / "curves.png") > 0


def test_free_feedback_needs_the_output_recurrence(tmp_path, capsys):
    refused(capsys, output_recurrent.main, ["train", "--smoke", "--model", "hidden", "--feedback",
                                            "free", "--out", str(tmp_path / "r")],
            "--feedback free", "--model output")
    assert not os.path.exists(tmp_path / "r")
