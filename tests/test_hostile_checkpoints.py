"""A checkpoint is data from a stranger: each hostile one below is refused before a model is
built from it, with exit status 2 and one line that names the problem, never a traceback, a
large allocation or a hang; and it never chooses which data file is read."""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import tinygrad_seq as tg
from models import charlm
from tinygrad_seq import train as trainer

import cli_cases

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real char-LM checkpoint (the four-letter toy), the base of every hostile variant."""
    out = str(tmp_path_factory.mktemp("hello"))
    charlm.main(["train", "--data", "hello", "--steps", "2", "--out", out, "--progress", "off"])
    return os.path.join(out, "checkpoint.safetensors")


def variant(trained, folder, change):
    saved = tg.load(trained)
    change(saved)
    path = str(folder / "hostile.safetensors")
    tg.save(saved, path)
    return path


def refused(capsys, argv, *fragments):
    """One line naming each fragment, exit status 2, no traceback; and the largest allocation
    Python made meanwhile, in bytes."""
    tracemalloc.start()
    try:
        cli_cases.refused(capsys, charlm.main, argv, *fragments)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def set_config(key, value):
    return lambda saved: saved["config"].__setitem__(key, value)


def set_identity(key, value):
    return lambda saved: saved["identity"].__setitem__(key, value)


def drop(part, key):
    return lambda saved: saved[part].pop(key)


def set_weight(name, array):
    return lambda saved: saved["model"].__setitem__(name, tg.tensor(array))


HOSTILE = {  # name: (change, what the error names)
    "hidden 20,000": (set_config("hidden_size", 20_000), "hidden_size=20000 is larger"),
    "10^6 layers": (set_config("num_layers", 10**6), "num_layers=1000000 is larger"),
    "negative size": (set_config("embedding_size", -4), "embedding_size=-4 is negative"),
    "size of another type": (set_config("hidden_size", "16"), "hidden_size='16' is not of the type"),
    "missing config key": (drop("config", "vocab_size"), "lacks 'vocab_size'"),
    "unknown config key": (set_config("layers_please", 2), "unknown config key 'layers_please'"),
    "unknown cell": (set_config("cell", "transformer"), "does not build a model"),
    "config not a map": (lambda s: s.__setitem__("config", None), "'config' is None"),
    "step not a number": (lambda s: s.__setitem__("step", "ten"), "'step' is 'ten'"),
    "no identity": (lambda s: s.pop("identity"), "no 'identity' entry"),
    "no vocabulary": (drop("identity", "vocab"), "no a string 'vocab'"),
    "vocabulary shorter than the model": (set_identity("vocab", "eh"), "vocabulary has 2"),
    "NaN weights": (set_weight("head.bias", np.full(4, np.nan, np.float32)), "NaN or infinite"),
    "weight of another shape": (set_weight("head.bias", np.zeros(5, np.float32)),
                                "'head.bias' has shape (5,)"),
    "missing weight": (drop("model", "head.bias"), "lacks the weight 'head.bias'"),
    "extra weight": (set_weight("spare", np.zeros(2, np.float32)), "has the weight 'spare'"),
    "weight not a tensor": (lambda s: s["model"].__setitem__("head.bias", 3), "is a int"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_checkpoint_is_refused_before_the_model_is_built(trained, tmp_path, capsys, name):
    change, message = HOSTILE[name]
    path = variant(trained, tmp_path, change)
    peak = refused(capsys, ["sample", "--checkpoint", path, "--length", "5"], path, message)
    assert peak < 20 * 2**20  # no model of the asked size was allocated (hidden 20,000: 6 GB)


def test_a_sane_checkpoint_still_samples(trained, capsys):
    assert len(charlm.main(["sample", "--checkpoint", trained, "--length", "5"])) == 6


def test_eval_never_reads_a_file_the_checkpoint_names(trained, tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for a checkpoint to read")
    path = variant(trained, tmp_path, set_identity("data", str(secret)))
    opened = []
    real_open = open

    def watching_open(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else file)
        return real_open(file, *args, **kwargs)
    import builtins
    builtins.open, saved_open = watching_open, builtins.open
    try:
        refused(capsys, ["eval", "--checkpoint", path], "pass --data", "does not choose")
    finally:
        builtins.open = saved_open
    assert str(secret) not in opened
    result = charlm.main(["eval", "--checkpoint", path, "--data", "hello"])  # said, so read
    assert np.isfinite(result["val_loss"])


@pytest.mark.parametrize("kind", ["fifo", "directory", "link to a fifo"])
def test_a_fifo_or_directory_is_refused_without_hanging(tmp_path, kind):
    target = tmp_path / "not-a-file"
    if kind == "directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    path = target if kind != "link to a fifo" else tmp_path / "link.safetensors"
    if kind == "link to a fifo":
        os.symlink(target, path)
    # a child process, so that the old behaviour (blocking in open()) fails the test, not CI
    code = ("import sys, tinygrad_seq as tg; from models import charlm\n"
            "try: tg.load(sys.argv[1])\n"
            "except tg.serialization.CheckpointError as e: print(e)\n"
            "charlm.main(['sample', '--checkpoint', sys.argv[1]])")
    try:
        done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading a {kind} blocked")
    expected = "a directory" if kind == "directory" else "a FIFO (named pipe)"
    assert f"is {expected}, not a checkpoint file" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and str(path) in done.stderr, done.stderr


def test_a_hostile_header_takes_memory_near_its_size(tmp_path):
    """Two million metadata entries of seven bytes each: parsed, ~20 times the file."""
    entries = b",".join(b'"%d":""' % i for i in range(1_100_000))
    header = b'{"__metadata__":{' + entries + b"}}"
    path = tmp_path / "wide.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        with pytest.raises(tg.serialization.CheckpointError, match="more than"):
            tg.load(str(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * size, (peak, size)
