"""A trained run is never lost: smoke runs go elsewhere, a trained folder is only continued or
replaced on request, one run holds a folder at a time, logs are replaced atomically, nothing is
written through a planted link, and a full or read-only disk is one clear line."""
import argparse
import errno
import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

import tinygrad_seq as tg
from models import charlm
from tinygrad_seq import train as trainer
from tinygrad_seq.train import metrics, runs

import cli_cases

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)


class Toy(trainer.Task):
    name, unit, device = "toy", "sample", "cpu"

    def __init__(self):
        tg.manual_seed(0)
        self.model = tg.nn.Linear(3, 1)
        self.config, self.identity = {"width": 3}, {"data": "toy"}
        self.inputs = np.random.default_rng(1).standard_normal((32, 3)).astype(np.float32)

    def loss(self, step, rng):
        rows = rng.integers(0, 32, size=4)
        return (self.model(tg.tensor(self.inputs[rows])) ** 2).mean(), 4

    def evaluate(self):
        return {"val_loss": (self.model(tg.tensor(self.inputs)) ** 2).mean().item()}


def options(*argv):
    parser = argparse.ArgumentParser()
    trainer.add_train_options(parser)
    return trainer.resolve(parser.parse_args(list(argv)), {
        "lr": 0.01, "clip": 1.0, "eval_every": 2, "eval_seconds": 60.0, "minutes": 0.0})


def fit(out, *argv):
    return trainer.fit(Toy(), options("--progress", "off", *argv), str(out))


def snapshot(folder):
    return {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}


def refused(capsys, argv, *fragments):
    """``charlm`` ends with status 2 and one line naming each fragment, no traceback."""
    return cli_cases.refused(capsys, charlm.main, argv, *fragments)


HELLO = ["train", "--data", "hello", "--steps", "3", "--eval-every", "3", "--progress", "off"]


# ---------------------------------------------------------------- a trained folder is kept

def test_smoke_without_out_leaves_the_trained_run_as_it_was(tmp_path, monkeypatch, capsys, request):
    monkeypatch.chdir(tmp_path)
    charlm.main(HELLO)  # the default folder, runs/charlm-hello
    trained = snapshot("runs/charlm-hello")
    charlm.main(["train", "--data", "hello", "--smoke", "--progress", "off"])
    said = capsys.readouterr().out
    folder = said.split("--smoke: writing to ")[1].split(" ")[0]
    request.addfinalizer(lambda: shutil.rmtree(folder, ignore_errors=True))
    assert os.path.isfile(os.path.join(folder, "checkpoint.safetensors"))
    assert not os.path.abspath(folder).startswith(str(tmp_path))
    assert snapshot("runs/charlm-hello") == trained


def test_training_again_into_a_trained_folder_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    charlm.main(HELLO)
    trained = snapshot("runs/charlm-hello")
    refused(capsys, HELLO, "runs/charlm-hello", "--resume", "--overwrite")
    refused(capsys, HELLO + ["--resume", "--overwrite"], "--resume", "--overwrite")
    assert snapshot("runs/charlm-hello") == trained


def test_overwrite_keeps_the_old_run_until_the_new_one_has_a_checkpoint(tmp_path, monkeypatch):
    fit(tmp_path, "--steps", "4")
    trained = snapshot(tmp_path)

    def broken(self):
        raise RuntimeError("evaluation failed")
    monkeypatch.setattr(Toy, "evaluate", broken)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        fit(tmp_path, "--steps", "2", "--overwrite")
    assert snapshot(tmp_path) == trained  # nothing replaced, no temporary left behind
    monkeypatch.undo()
    fit(tmp_path, "--steps", "2", "--overwrite")
    log = metrics.read(str(tmp_path / "metrics.jsonl"))
    assert [r["step"] for r in log if r["kind"] == "train"] == [1, 2]
    assert tg.load(str(tmp_path / "checkpoint.safetensors"))["step"] == 2


# ---------------------------------------------------------------- one run per folder

def test_a_live_run_holds_its_folder_and_a_second_is_refused_naming_it(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tinygrad_seq.train.runs import RunLock; "
         "RunLock(sys.argv[1]); print('held', flush=True); sys.stdin.read()", str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(trainer.UsageError) as refusal:
            fit(tmp_path, "--steps", "1")
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(refusal.value)
        assert not os.path.exists(tmp_path / "metrics.jsonl")
    finally:
        holder.stdin.close()
        holder.wait()
    fit(tmp_path, "--steps", "1")  # its holder gone, the folder is free


def test_a_killed_runs_lock_is_taken_over_and_every_run_releases_its_own(tmp_path, monkeypatch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / runs.LOCK_NAME).write_text(f"{dead} {socket.gethostname()}\n")
    fit(tmp_path, "--steps", "1")
    assert not os.path.exists(tmp_path / runs.LOCK_NAME)

    def interrupted(self, step, rng):
        raise KeyboardInterrupt
    monkeypatch.setattr(Toy, "loss", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(tmp_path, "--steps", "3", "--resume")
    assert not os.path.exists(tmp_path / runs.LOCK_NAME)


def test_bad_input_leaves_no_folder_behind(tmp_path):
    out = tmp_path / "new" / "run"
    with pytest.raises(trainer.UsageError, match="no checkpoint"):
        fit(out, "--steps", "1", "--resume")
    assert not os.path.exists(tmp_path / "new")


# ---------------------------------------------------------------- the log on resume

def test_a_failed_rewrite_on_resume_keeps_every_line_of_the_log(tmp_path, monkeypatch):
    fit(tmp_path, "--steps", "6")
    before = (tmp_path / "metrics.jsonl").read_bytes()
    dumps, calls = json.dumps, []

    def disk_full_after_three(value, *a, **k):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return dumps(value, *a, **k)
    monkeypatch.setattr(metrics.json, "dumps", disk_full_after_three)
    with pytest.raises(trainer.UsageError, match="metrics.jsonl: No space left on device"):
        fit(tmp_path, "--steps", "8", "--resume")
    assert (tmp_path / "metrics.jsonl").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.safetensors", "curves.png", "metrics.jsonl"]


# ---------------------------------------------------------------- links and temporary names

@pytest.mark.parametrize("planted", ["metrics.jsonl", "curves.png"])
def test_a_link_planted_in_the_folder_is_refused_by_name(tmp_path, planted):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    out = tmp_path / "run"
    out.mkdir()
    os.symlink(outside, out / planted)
    with pytest.raises(trainer.UsageError, match=f"{planted} is a symbolic link"):
        fit(out, "--steps", "1")
    assert outside.read_text() == "keep me"


def test_temporary_files_have_names_of_their_own(tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_text("keep me")
    out = tmp_path / "run"
    out.mkdir()
    os.symlink(outside, out / "curves.png.tmp.png")  # a fixed temporary name would follow it
    fit(out, "--steps", "2")
    assert outside.read_text() == "keep me"
    assert open(out / "curves.png", "rb").read(4) == b"\x89PNG"


# ---------------------------------------------------------------- full and read-only disks

@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_a_checkpoint_that_cannot_be_written_is_one_clear_line(tmp_path, monkeypatch, capsys, error):
    def refuse(path, write_to, who="tg.save"):
        raise OSError(error, f"{who}: cannot write {path!r}: {os.strerror(error)}")
    monkeypatch.setattr(tg.checkpoint_file, "write_atomically", refuse)
    out = str(tmp_path / "run")
    refused(capsys, HELLO + ["--out", out], "checkpoint.safetensors", os.strerror(error))
    assert not os.path.exists(os.path.join(out, runs.LOCK_NAME))


def test_a_plot_that_cannot_be_written_is_a_warning_and_training_goes_on(tmp_path, monkeypatch, capsys):
    def refuse(paths, out, *a, **k):
        raise OSError(errno.ENOSPC, f"cannot write {out}: No space left on device")
    monkeypatch.setattr(metrics, "plot", refuse)
    result = fit(tmp_path, "--steps", "4")
    assert result["step"] == 4 and tg.load(str(tmp_path / "checkpoint.safetensors"))["step"] == 4
    assert "warning: the plot was not written" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE needs POSIX")
def test_a_file_size_limit_mid_run_is_one_clear_line(tmp_path):
    """A real write failure (EFBIG under ``ulimit -f``), not a simulated one."""
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); "
              "from models import charlm; charlm.main(sys.argv[1:])")
    done = subprocess.run([sys.executable, "-c", script, *HELLO, "--steps", "40", "--eval-every",
                           "1", "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(tmp_path) in done.stderr and "too large" in done.stderr.lower(), done.stderr
