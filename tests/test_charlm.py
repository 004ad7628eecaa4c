"""The character language model (models/charlm.py) through its command line: it trains, resumes
exactly, samples, and refuses bad input with an error that names what was wrong."""
import json
import os

import numpy as np
import pytest

import tinygrad_seq as tg
from models import charlm
from tinygrad_seq import train as trainer

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40
TINY = ["--embedding-size", "8", "--hidden-size", "24", "--layers", "1", "--bptt", "12",
        "--batch-size", "4", "--eval-windows", "4", "--sample-length", "10", "--prime", "t",
        "--minutes", "0"]


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)  # CI exports one for the main job


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "cats.txt"
    path.write_text(TEXT)
    return str(path)


def train(*argv):
    return charlm.main(["train", *argv])


def train_losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as file:
        return [record["loss"] for record in map(json.loads, file) if record["kind"] == "train"]


def fails(capsys, argv, *fragments):
    """``argv`` ends the program with status 2 and an error naming each of ``fragments``."""
    with pytest.raises(SystemExit) as stop:
        charlm.main(argv)
    error = capsys.readouterr().err
    assert stop.value.code == 2, error
    for fragment in fragments:
        assert fragment in error
    return error


def test_smoke_run_on_the_stdlib_sources(tmp_path, capsys):
    result = train("--smoke", "--out", str(tmp_path))
    out = capsys.readouterr().out
    assert result["step"] == 3 and "val_bpc" in result and "sample" in out
    for name in ("checkpoint.safetensors", "metrics.jsonl", "curves.png"):
        assert os.path.getsize(tmp_path / name) > 0


@pytest.mark.parametrize("cell", ["gru", "rnn-relu"])
def test_the_training_loss_falls_on_a_fixed_text(text_file, tmp_path, cell):
    train("--data", text_file, *TINY, "--cell", cell, "--steps", "40", "--lr", "0.02",
          "--out", str(tmp_path))
    losses = train_losses(tmp_path)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)


def test_the_hello_toy_learns_hello_and_samples_it(tmp_path, capsys):
    train("--data", "hello", "--out", str(tmp_path))
    capsys.readouterr()
    checkpoint = str(tmp_path / "checkpoint.safetensors")
    assert charlm.main(["sample", "--checkpoint", checkpoint, "--length", "4"]) == "hello"
    assert charlm.main(["sample", "--checkpoint", checkpoint, "--length", "3", "--top-k", "1",
                        "--prime", "he"]) == "hello"
    result = charlm.main(["eval", "--checkpoint", checkpoint])
    assert result["val_loss"] < 0.05


def test_contiguous_windows_carry_the_state_and_resume_exactly(text_file, tmp_path):
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    common = ["--data", text_file, *TINY, "--windows", "contiguous", "--dropout", "0.2",
              "--layers", "2"]
    train(*common, "--steps", "8", "--out", whole)
    train(*common, "--steps", "3", "--out", cut)
    assert tg.load(os.path.join(cut, "checkpoint.safetensors"))["task_state"][0].shape == (2, 4, 24)
    train(*common, "--steps", "8", "--out", cut, "--resume")
    assert train_losses(cut) == train_losses(whole)


def test_help_of_each_command(capsys):
    for command in ("train", "eval", "sample"):
        with pytest.raises(SystemExit) as stop:
            charlm.main([command, "--help"])
        assert stop.value.code == 0
    assert "--temperature" in capsys.readouterr().out


# ---------------------------------------------------------------- bad input

def test_unknown_data(capsys):
    fails(capsys, ["train", "--data", "no-such-corpus", "--smoke"], "--data no-such-corpus",
          "stdlib", "not a file")


def test_empty_short_and_non_utf8_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where runs/ would be made
    empty, short, latin = tmp_path / "empty.txt", tmp_path / "short.txt", tmp_path / "latin.txt"
    empty.write_text("")
    short.write_text("just a few words of text")
    latin.write_bytes("caf\xe9 au lait, ".encode("latin-1") * 20)
    fails(capsys, ["train", "--data", str(empty), *TINY], "empty.txt", "is empty")
    fails(capsys, ["train", "--data", str(short), *TINY], "short.txt", "fewer than one window",
          "--bptt 12")
    fails(capsys, ["train", "--data", str(latin), *TINY], "latin.txt", "not UTF-8")
    assert not (tmp_path / "runs").exists()  # bad input leaves nothing behind


def test_temperature_must_be_positive(capsys):
    for value in ("0", "-1"):
        fails(capsys, ["sample", "--temperature", value], "--temperature", "must be a number > 0")
        fails(capsys, ["train", "--temperature", value], "--temperature", "must be a number > 0")


@pytest.mark.skipif(tg.cuda_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu(capsys):
    fails(capsys, ["train", "--smoke", "--device", "cuda"], "--device cuda", "no usable CUDA GPU")
    fails(capsys, ["sample", "--device", "cuda"], "--device cuda", "no usable CUDA GPU")


@pytest.fixture
def trained(text_file, tmp_path):
    out = str(tmp_path / "run")
    train("--data", text_file, *TINY, "--steps", "2", "--out", out)
    return out, os.path.join(out, "checkpoint.safetensors")


def test_a_checkpoint_of_another_vocabulary(trained, tmp_path, capsys):
    out, checkpoint = trained
    other = tmp_path / "other.txt"
    other.write_text(TEXT.upper())
    fails(capsys, ["train", "--data", str(other), *TINY, "--out", out, "--resume"],
          checkpoint, "other data", "vocab")
    fails(capsys, ["sample", "--checkpoint", checkpoint, "--data", str(other)],
          checkpoint, "other data", "vocab")
    fails(capsys, ["sample", "--checkpoint", checkpoint, "--prime", "XYZ"],
          "--prime", "outside the model's vocabulary", "XYZ")


def test_a_checkpoint_of_another_model(trained, text_file, capsys):
    out, checkpoint = trained
    saved = tg.load(checkpoint)
    tg.save(dict(saved, model_name="seq2seq"), checkpoint)
    fails(capsys, ["train", "--data", text_file, *TINY, "--out", out, "--resume"],
          checkpoint, "of model 'seq2seq', not 'charlm'")
    fails(capsys, ["sample", "--checkpoint", checkpoint], "of model 'seq2seq', not 'charlm'")
    tg.save(tg.nn.Linear(3, 3).state_dict(), checkpoint)
    fails(capsys, ["sample", "--checkpoint", checkpoint], "not a training checkpoint")


def test_a_corrupted_or_half_written_checkpoint(trained, text_file, capsys):
    out, checkpoint = trained
    size = os.path.getsize(checkpoint)
    with open(checkpoint, "r+b") as file:
        file.seek(size - 10)
        file.write(b"\xff" * 10)  # damaged bytes in the last tensor
    fails(capsys, ["sample", "--checkpoint", checkpoint], checkpoint, "damaged or half-written")
    with open(checkpoint, "r+b") as file:
        file.truncate(size // 3)
    fails(capsys, ["train", "--data", text_file, *TINY, "--out", out, "--resume"],
          checkpoint, "damaged or half-written")
    os.remove(checkpoint)
    fails(capsys, ["eval", "--checkpoint", checkpoint], "no checkpoint at", checkpoint)


def test_training_steps_equal_the_torch_twin_given_the_same_weights(torch):
    """The twin of benchmarks/charlm_torch.py, started from the tg model's initial weights, takes
    the same training steps (Adam, clipping) on the same batches: a gap between the two engines'
    curves is the initial draw or speed, not the maths."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
    from charlm_torch import TorchCharLM, cross_entropy

    tg.manual_seed(0)
    model = charlm.CharLM(vocab_size=11, embedding_size=6, hidden_size=16, num_layers=2)
    twin = TorchCharLM(11, 6, 16, 2).double()
    twin.load_state_dict({k: torch.from_numpy(v.numpy().astype("float64"))
                          for k, v in model.state_dict().items()})
    model.to(dtype="float64")
    params = list(model.parameters())
    opt, twin_opt = tg.optim.Adam(params, lr=2e-2), torch.optim.Adam(twin.parameters(), lr=2e-2)
    rng = np.random.default_rng(0)
    text = np.arange(300) % 11          # a learnable, repeating text
    losses, twin_losses = [], []
    for _ in range(12):
        starts = rng.integers(0, len(text) - 21, 4)
        x = np.stack([text[s:s + 20] for s in starts], 1)
        y = np.stack([text[s + 1:s + 21] for s in starts], 1)
        loss = charlm.loss_of(model, tg.tensor(x), tg.tensor(y))
        loss = loss[0] if isinstance(loss, tuple) else loss
        opt.zero_grad()
        loss.backward()
        tg.optim.clip_grad_norm_(params, 0.5)
        opt.step()
        twin_loss = cross_entropy(twin(torch.from_numpy(x))[0], torch.from_numpy(y))
        twin_opt.zero_grad()
        twin_loss.backward()
        torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.5)
        twin_opt.step()
        losses.append(loss.item())
        twin_losses.append(twin_loss.item())
    np.testing.assert_allclose(losses, twin_losses, rtol=1e-9)
    assert losses[-1] < losses[0] - 0.3   # it learnt, so the steps compared were real updates
