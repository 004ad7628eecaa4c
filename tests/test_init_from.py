"""Initial weights from a file (``--init-from``, ``--save-init``): a tg run and its PyTorch twin
start from the same draw and then take the same steps; a file that does not fit the model
exactly (a name missing or extra, a shape, a dtype, a NaN) is refused with an error naming the
problem, and the model is left as it was."""
import json
import os
import sys

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq.testing import assert_close
from models import charlm, forecast
from tinygrad_seq import train as trainer
from tinygrad_seq.train.initial import load_initial, save_initial

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
SMALL = dict(vocab_size=11, embedding_size=6, hidden_size=16, num_layers=2)
# 2,500 characters of 26 letters: the twins' 5% held-out tail holds a window of 100
TEXT = "".join(chr(97 + (i * 7 + i // 13) % 26) for i in range(2500))


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)


@pytest.fixture
def twins():
    """The benchmarks/ folder on the path (the twins import their neighbour torch_init)."""
    sys.path.insert(0, BENCHMARKS)
    yield
    sys.path.remove(BENCHMARKS)


def small_model(seed):
    tg.manual_seed(seed)
    return charlm.CharLM(**SMALL)


def weights(model):
    return {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}


def records(path, kind):
    with open(os.path.join(path, "metrics.jsonl")) as file:
        return [record for record in map(json.loads, file) if record["kind"] == kind]


# ---------------------------------------------------------------- the tg side (no torch needed)

def test_a_saved_draw_loads_bit_for_bit(tmp_path):
    path = str(tmp_path / "init.safetensors")
    save_initial(small_model(0), path)
    model = small_model(1)
    load_initial(model, path)
    expected = weights(small_model(0))
    assert all(np.array_equal(value, expected[name]) for name, value in weights(model).items())


def bad_files(tmp_path):
    """(what was done to a good file, the file, a fragment the error must name)."""
    good = weights(small_model(0))
    variants = {
        "wrong shape": ({**good, "head.bias": good["head.bias"][:-1]}, "head.bias has shape (10,)"),
        "missing name": ({k: v for k, v in good.items() if k != "rnn.weight_hh_l1"},
                         "missing rnn.weight_hh_l1"),
        "extra name": ({**good, "rnn.weight_hh_l2": good["rnn.weight_hh_l1"]},
                       "not in the model rnn.weight_hh_l2"),
        "wrong dtype": ({**good, "embedding.weight": good["embedding.weight"].astype(np.float64)},
                        "embedding.weight is float64, the model float32"),
        "NaN": ({**good, "head.weight": np.where(np.arange(16) == 3, np.nan,
                                                 good["head.weight"]).astype(np.float32)},
                "head.weight holds NaN"),
    }
    for what, (state, fragment) in variants.items():
        path = str(tmp_path / f"{what.replace(' ', '-')}.safetensors")
        tg.save(state, path)  # NumPy arrays: saved in their own dtypes
        yield what, path, fragment


def test_bad_files_are_refused_by_name_and_leave_the_model_untouched(tmp_path):
    for what, path, fragment in bad_files(tmp_path):
        model = small_model(1)
        before = weights(model)
        with pytest.raises(trainer.UsageError) as error:
            load_initial(model, path)
        assert fragment in str(error.value) and "nothing was loaded" in str(error.value), what
        after = weights(model)
        assert all(np.array_equal(after[name], before[name]) for name in before), what


def test_a_tied_parameter_must_get_one_value(tmp_path):
    class Tied(tg.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = tg.nn.Linear(3, 3), tg.nn.Linear(3, 3)
            self.decoder.weight = self.encoder.weight

    tg.manual_seed(0)
    model, path = Tied(), str(tmp_path / "tied.safetensors")
    good = weights(model)
    tg.save({**good, "decoder.weight": good["decoder.weight"] + 1}, path)
    with pytest.raises(trainer.UsageError, match="encoder.weight and decoder.weight are one tied"):
        load_initial(model, path)
    tg.save(good, path)
    load_initial(model, path)  # the same value under both names loads


def test_a_training_checkpoint_or_no_file_is_not_initial_weights(tmp_path):
    out = str(tmp_path / "run")
    charlm.main(["train", "--data", "hello", "--steps", "1", "--out", out, "--progress", "off"])
    model = charlm.CharLM(vocab_size=4, embedding_size=4, hidden_size=16, num_layers=1, cell="rnn")
    with pytest.raises(trainer.UsageError, match="not tensors .*training checkpoint"):
        load_initial(model, os.path.join(out, "checkpoint.safetensors"))
    with pytest.raises(trainer.UsageError, match="no such file"):
        load_initial(model, str(tmp_path / "none.safetensors"))


def test_a_run_from_another_seeds_saved_draw_takes_that_seeds_steps(tmp_path):
    """--save-init writes the draw of --seed 0; --seed 1 --init-from it then logs exactly the
    losses of the seed-0 run when the batches are the seed-0 run's too (hello: one batch)."""
    hello = ["train", "--data", "hello", "--steps", "5", "--progress", "off"]
    draw = str(tmp_path / "seed0.safetensors")
    charlm.main(hello + ["--out", str(tmp_path / "a"), "--save-init", draw])
    charlm.main(hello + ["--out", str(tmp_path / "b"), "--seed", "1", "--init-from", draw])
    charlm.main(hello + ["--out", str(tmp_path / "c"), "--seed", "1"])
    loss = lambda run: [r["loss"] for r in records(str(tmp_path / run), "train")]
    assert loss("b") == loss("a")
    assert loss("c") != loss("a")  # the seed alone would have drawn other weights
    assert records(str(tmp_path / "b"), "run")[0]["init_from"] == draw


def test_the_command_line_refuses_a_bad_file_and_writes_nothing(tmp_path, capsys):
    _, path, fragment = next(bad_files(tmp_path))
    tg.manual_seed(0)
    with pytest.raises(SystemExit) as stop:
        charlm.main(["train", "--data", "hello", "--steps", "1", "--out", str(tmp_path / "run"),
                     "--init-from", path])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and f"--init-from {path}" in error and "not in the model" in error
    assert not os.path.exists(tmp_path / "run")
    with pytest.raises(SystemExit) as stop:
        charlm.main(["train", "--data", "hello", "--steps", "1", "--out", str(tmp_path / "run"),
                     "--resume", "--init-from", path])
    assert stop.value.code == 2 and "--resume continues" in capsys.readouterr().err


# ---------------------------------------------------------------- against the PyTorch twins

@pytest.mark.torch
def test_the_twin_refuses_bad_files_by_name_and_leaves_its_model_untouched(torch, twins, tmp_path):
    import torch_init
    from charlm_torch import TorchCharLM
    for what, path, fragment in bad_files(tmp_path):
        torch.manual_seed(0)
        model = TorchCharLM(11, 6, 16, 2)
        before = {name: value.clone() for name, value in model.state_dict().items()}
        with pytest.raises(ValueError) as error:
            torch_init.load_initial(model, path)
        message = str(error.value).replace("torch.", "")  # torch.float64 -> float64
        assert fragment in message and "nothing was loaded" in message, what
        assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items()), what


@pytest.mark.torch
def test_weights_cross_between_the_engines_bit_for_bit(torch, twins, tmp_path):
    import torch_init
    from charlm_torch import TorchCharLM
    torch.manual_seed(0)
    twin = TorchCharLM(11, 6, 16, 2)
    torch_init.save_initial(twin, str(tmp_path / "torch.safetensors"))
    model = small_model(1)
    load_initial(model, str(tmp_path / "torch.safetensors"))
    assert all(np.array_equal(value, twin.state_dict()[name].numpy())
               for name, value in weights(model).items())
    save_initial(small_model(2), str(tmp_path / "tg.safetensors"))
    torch_init.load_initial(twin, str(tmp_path / "tg.safetensors"))
    expected = weights(small_model(2))
    assert all(np.array_equal(value.numpy(), expected[name]) for name, value in twin.state_dict().items())


@pytest.mark.torch
def test_the_charlm_from_the_twins_draw_takes_the_twins_steps(torch, twins, tmp_path):
    """Both command lines: the twin writes its seed-0 draw, tg trains from it (seed 0 picks the
    same batches in both) and logs the twin's held-out loss before training and its training
    losses after, up to float32 rounding; tg's own draw would start elsewhere."""
    import charlm_torch
    text = tmp_path / "letters.txt"
    text.write_text(TEXT)
    common = ["--data", str(text), "--eval-windows", "2", "--minutes", "0", "--threads", "1",
              "--embedding-size", "8", "--hidden-size", "32", "--layers", "2", "--bptt", "20",
              "--batch-size", "8"]
    draw = str(tmp_path / "torch-init.safetensors")
    charlm_torch.main(common + ["--steps", "3", "--save-init", draw, "--out", str(tmp_path / "torch")])
    own = ["train", *common, "--steps", "3", "--progress", "off", "--eval-every", "3",
           "--prime", "a", "--sample-length", "1"]
    charlm.main(own + ["--init-from", draw, "--out", str(tmp_path / "tg")])
    charlm.main(own + ["--out", str(tmp_path / "tg-own"), "--steps", "1"])
    value = lambda run, kind, key: np.array([r[key] for r in records(str(tmp_path / run), kind)])
    # each loss is a mean of cross-entropies of logits that one LSTM step's reduction (8 + 32
    # inputs) feeds, the errors of the 20 steps before damped by the gates
    close = lambda actual, expected: assert_close(actual, expected, terms=8 + 32, dtype=np.float32)
    close(value("tg", "eval", "val_loss")[0], value("torch", "eval", "val_loss")[0])
    close(value("tg", "train", "loss"), value("torch", "train", "loss"))
    with pytest.raises(AssertionError):  # the tolerance is tight enough to tell draws apart
        close(value("tg-own", "eval", "val_loss")[0], value("torch", "eval", "val_loss")[0])


@pytest.mark.torch
def test_the_forecaster_from_tgs_draw_takes_tgs_steps_in_the_twin(torch, twins, tmp_path):
    """The other way round, on a Models II twin: tg writes its draw, the twin trains from it."""
    import models_ii_torch
    series = tmp_path / "series.npy"
    np.save(series, np.sin(np.arange(400) * 0.3).astype(np.float32) * 10 + 50)
    common = ["--data", str(series), "--cell", "lstm", "--steps", "5", "--minutes", "0",
              "--threads", "1"]
    draw = str(tmp_path / "tg-init.safetensors")
    forecast.main(["train", *common, "--out", str(tmp_path / "tg"), "--save-init", draw,
                   "--progress", "off"])
    models_ii_torch.main(["forecast", *common, "--out", str(tmp_path / "torch"), "--init-from", draw])
    models_ii_torch.main(["forecast", *common, "--out", str(tmp_path / "torch-own")])
    loss = lambda run: np.array([r["loss"] for r in records(str(tmp_path / run), "train")])
    terms = (1 + 100) * 20  # windows of 20 steps of an LSTM(1 -> 100)
    assert_close(loss("torch"), loss("tg"), terms=terms, dtype=np.float32)
    with pytest.raises(AssertionError):
        assert_close(loss("torch-own"), loss("tg"), terms=terms, dtype=np.float32)


@pytest.mark.torch
def test_the_adding_experiments_twin_starts_from_tgs_draw(torch, twins, tmp_path):
    """The experiments' twin reads --init-from: its held-out MSE before training is tg's."""
    import argparse
    import experiments_torch
    from models.experiments import common
    tg.manual_seed(3)
    model = common.LastOutput("gru", 2, 16)
    save_initial(model, str(tmp_path / "tg.safetensors"))
    ours = common.train_adding("gru", 10, hidden=16, batch=8, seconds=0, model=model)
    log = str(tmp_path / "twin.jsonl")
    options = dict(kind="gru", T=10, hidden=16, batch=8, lr=1e-3, seconds=0, seed=0, log=log,
                   init_from=str(tmp_path / "tg.safetensors"), save_init=None)
    experiments_torch.adding(argparse.Namespace(**options))
    with open(log) as file:
        twin = json.loads(file.readline())
    assert ours[0]["step"] == twin["step"] == 0
    assert_close(ours[0]["val"], twin["val"], terms=(2 + 16) * 10, dtype=np.float32)
    experiments_torch.adding(argparse.Namespace(**dict(options, init_from=None)))
    with open(log) as file:
        assert json.loads(file.readline())["val"] != twin["val"]  # torch's own draw differs
