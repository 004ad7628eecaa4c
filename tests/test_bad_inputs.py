"""Every bad input to every command line ends it with exit status 2 and one line on stderr that
names the problem, never a traceback, and changes no file.

One table, ``ROWS``, holds (command, arguments, words the error must contain) for the models'
command lines and the experiments'. The options every training command shares are tried on each
of them; each command adds its own options and data. Each row runs in-process through the
command's ``main(argv)`` from a scratch folder (relative paths, the default ``runs/`` and the
temporary folders all land in it) whose files are compared before and after. The rows marked
``CLI`` also run as ``python -m`` in a child process, as a user types them.

The one line: argparse's errors print their usage block first, a dozen lines for a training
command that bury the line saying what was wrong, so the parsers of tinygrad_seq/train/arguments.py
print ``PROG: error: MESSAGE (--help lists the options)`` alone.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import pytest

import tinygrad_seq as tg
from models import (charlm, classify_rows, demo, forecast, generate_rows, output_recurrent,
                    sentiment, seq2seq, word2vec)
from models.experiments import dropout, exploding, family, long_term, vanishing
from tinygrad_seq import train as trainer
from tinygrad_seq.train import __main__ as plot_logs

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MAINS = {"charlm": charlm.main, "classify_rows": classify_rows.main, "demo": demo.main,
         "forecast": forecast.main, "generate_rows": generate_rows.main,
         "output_recurrent": output_recurrent.main, "sentiment": sentiment.main,
         "seq2seq": seq2seq.main, "word2vec": word2vec.main, "experiments.dropout": dropout.main,
         "experiments.exploding": exploding.main, "experiments.family": family.main,
         "experiments.long_term": long_term.main, "experiments.vanishing": vanishing.main,
         "train": plot_logs.main}

# each training command, up to the options under test (cheap data: the shared rows fail first)
TRAIN = {"charlm": ["train", "--data", "hello"], "demo": [],
         "output_recurrent": ["train", "--data", "hello"], "classify_rows": ["train", "--smoke"],
         "sentiment": ["train", "--smoke"], "forecast": ["train", "--smoke"],
         "generate_rows": ["train", "--smoke"], "seq2seq": ["train", "--smoke"],
         "word2vec": ["train", "--smoke"]}
EXPERIMENTS = [name for name in MAINS if name.startswith("experiments.")]
ON_LINUX = os.path.isdir("/proc/self")

# (arguments, words) that every training command refuses; the files are the workspace's below
SHARED_TRAINING = [
    (["--seed", "-1"], ["--seed", "-1", ">= 0"]),
    (["--seed", "one"], ["--seed", "'one'"]),
    (["--threads", "0"], ["--threads", ">= 1"]),
    (["--steps", "0"], ["--steps", ">= 1"]),
    (["--minutes", "-1"], ["--minutes", ">= 0"]),
    (["--minutes", "nan"], ["--minutes", "'nan'"]),
    (["--lr", "0"], ["--lr", "> 0"]),
    (["--lr", "inf"], ["--lr", "'inf'"]),
    (["--clip", "-1"], ["--clip", ">= 0"]),
    (["--eval-every", "0"], ["--eval-every", ">= 1"]),
    (["--eval-seconds", "-5"], ["--eval-seconds", "> 0"]),
    (["--progress", "sometimes"], ["--progress", "'sometimes'"]),
    (["--bucket-mb", "0"], ["--bucket-mb", "> 0"]),
    (["--collective-timeout", "-1"], ["--collective-timeout", "> 0"]),
    (["--device", "tpu"], ["--device", "tpu"]),
    (["--out", "README.md"], ["--out", "README.md", "is a file, not a folder"]),
    (["--out", "README.md/run"], ["--out", "README.md", "is a file, not a folder"]),
    (["--init-from", "missing.safetensors"], ["--init-from", "missing.safetensors", "no such file"]),
    (["--init-from", "adir"], ["--init-from", "adir", "not a regular file"]),
    (["--save-init", "adir"], ["--save-init", "adir", "is a folder"]),
    (["--resume", "--out", "fresh"], ["--resume", "no checkpoint", "fresh"]),
    (["--resume", "--overwrite", "--out", "trained"], ["--resume", "--overwrite", "drop one"]),
    (["--resume", "--init-from", "README.md", "--out", "trained"], ["--init-from", "--resume"]),
    (["--out", "trained"], ["trained", "holds a trained run", "--resume", "--overwrite"]),
    (["--no-such-option"], ["unrecognized arguments", "--no-such-option"]),
]
if ON_LINUX:
    SHARED_TRAINING.append((["--out", "/proc/nope"], ["/proc/nope"]))

SHARED_EXPERIMENT = [
    (["--threads", "0"], ["--threads", ">= 1"]),
    (["--seed", "-1"], ["--seed", ">= 0"]),
    (["--out", "README.md"], ["--out", "README.md", "is a file, not a folder"]),
    (["--smoke", "--out", "README.md/run"], ["--out", "README.md", "not a folder"]),
    (["--bogus"], ["unrecognized arguments", "--bogus"]),
]
if ON_LINUX:
    SHARED_EXPERIMENT.append((["--out", "/proc/nope"], ["/proc/nope"]))

OWN = [  # (command, arguments, words)
    ("charlm", [], ["required", "command"]),
    ("charlm", ["fly"], ["invalid choice", "'fly'"]),
    ("charlm", ["train", "--data", "empty.txt"], ["empty.txt", "empty"]),
    ("charlm", ["train", "--data", "missing.txt"], ["missing.txt"]),
    ("charlm", ["train", "--data", "adir"], ["adir", "not a file"]),
    ("charlm", ["train", "--data", "latin1.txt"], ["latin1.txt", "UTF-8"]),
    ("charlm", ["train", "--data", "tiny.txt"], ["tiny.txt", "--bptt"]),
    ("charlm", ["train", "--data", "hello", "--holdout", "1"], ["--holdout", "[0, 1)"]),
    ("charlm", ["train", "--data", "hello", "--dropout", "-0.1"], ["--dropout"]),
    ("charlm", ["train", "--data", "hello", "--bptt", "0"], ["--bptt", ">= 1"]),
    ("charlm", ["train", "--data", "hello", "--cell", "transformer"], ["--cell", "'transformer'"]),
    ("charlm", ["train", "--data", "hello", "--windows", "sideways"], ["--windows"]),
    ("charlm", ["train", "--data", "hello", "--resume", "--out", "bad-step"], ["bad-step", "'step'"]),
    ("charlm", ["train", "--data", "hello", "--resume", "--out", "bad-seed"], ["bad-seed", "'seed'"]),
    ("charlm", ["train", "--data", "hello", "--resume", "--out", "null-config"],
     ["null-config", "'config'"]),
    ("charlm", ["sample", "--checkpoint", "missing.safetensors"], ["missing.safetensors"]),
    ("charlm", ["sample", "--checkpoint", "adir"], ["adir", "a directory"]),
    ("charlm", ["sample", "--checkpoint", "README.md"], ["README.md"]),
    ("charlm", ["sample", "--seed", "-1"], ["--seed", ">= 0"]),
    ("charlm", ["sample", "--temperature", "0"], ["--temperature"]),
    ("charlm", ["sample", "--top-k", "0"], ["--top-k"]),
    ("charlm", ["sample", "--checkpoint", "trained/checkpoint.safetensors", "--prime", ""],
     ["--prime"]),
    ("charlm", ["sample", "--checkpoint", "trained/checkpoint.safetensors", "--prime", "Z"],
     ["--prime", "vocabulary"]),
    ("charlm", ["eval", "--eval-windows", "-1"], ["--eval-windows", ">= 0"]),
    ("demo", ["--data", "empty.txt"], ["empty.txt", "empty"]),
    ("output_recurrent", ["train", "--model", "both"], ["--model", "'both'"]),
    ("output_recurrent", ["train", "--data", "empty.txt"], ["empty.txt", "empty"]),
    ("output_recurrent", ["train", "--data", "missing.txt"], ["missing.txt"]),
    ("output_recurrent", ["train", "--bptt", "0"], ["--bptt"]),
    ("output_recurrent", ["train", "--holdout", "1"], ["--holdout"]),
    ("seq2seq", ["train", "--data", "empty.txt", "--smoke"], ["empty.txt", "at least 2"]),
    ("seq2seq", ["train", "--data", "one.tsv", "--smoke"], ["one.tsv", "1 source<TAB>target line",
                                                            "at least 2"]),
    ("seq2seq", ["train", "--data", "notab.tsv", "--smoke"], ["notab.tsv", "line 1"]),
    ("seq2seq", ["train", "--data", "latin1.txt", "--smoke"], ["latin1.txt", "UTF-8"]),
    ("seq2seq", ["train", "--data", "missing.tsv", "--smoke"], ["missing.tsv"]),
    ("seq2seq", ["train", "--sampled-softmax", "-1"], ["--sampled-softmax", ">= 0"]),
    ("seq2seq", ["train", "--sample-ratio", "1"], ["--sample-ratio", "[0, 1)"]),
    ("seq2seq", ["train", "--attention", "psychic"], ["--attention", "'psychic'"]),
    ("seq2seq", ["train", "--dropout", "1"], ["--dropout"]),
    ("seq2seq", ["train", "--smoke", "--data", "pairs.tsv", "--sampled-softmax", "500"],
     ["--sampled-softmax 500", "vocabulary"]),
    ("seq2seq", ["eval", "--beam", "0"], ["--beam", ">= 1"]),
    ("seq2seq", ["eval", "--alpha", "nan"], ["--alpha", "'nan'"]),
    ("seq2seq", ["eval", "--seed", "-1"], ["--seed", ">= 0"]),
    ("seq2seq", ["eval", "--bootstrap-samples", "0"], ["--bootstrap-samples"]),
    ("seq2seq", ["eval", "--checkpoint", "missing.safetensors"], ["missing.safetensors"]),
    ("seq2seq", ["eval", "--checkpoint", "trained/checkpoint.safetensors"],
     ["trained/checkpoint.safetensors", "'charlm'"]),
    ("seq2seq", ["translate", "--heatmap", "adir"], ["--heatmap", "adir", "is a folder"]),
    ("seq2seq", ["translate", "--heatmap", "nowhere/map.png"], ["--heatmap", "does not exist"]),
    ("seq2seq", ["plot", "missing.jsonl"], ["missing.jsonl"]),
    ("seq2seq", ["plot", "-o", "adir", "log.jsonl"], ["--out", "adir", "is a folder"]),
    ("seq2seq", ["plot", "log.jsonl", "--labels", "a", "b"], ["--labels", "2 labels", "1 logs"]),
    ("seq2seq", ["plot", "log.jsonl", "--metric", "bleu"], ["log.jsonl", "'bleu'"]),
    ("forecast", ["train", "--data", "empty.txt"], ["empty.txt"]),
    ("forecast", ["train", "--data", "words.csv"], ["words.csv", "not a series of numbers"]),
    ("forecast", ["train", "--data", "missing.csv"], ["missing.csv"]),
    ("forecast", ["train", "--data", "short.csv"], ["short.csv", "window"]),
    ("forecast", ["train", "--window", "0"], ["--window", ">= 1"]),
    ("forecast", ["train", "--cell", "tree"], ["--cell", "'tree'"]),
    ("forecast", ["forecast", "--horizon", "0"], ["--horizon", ">= 1"]),
    ("forecast", ["forecast", "--start", "-1"], ["--start", ">= 0"]),
    ("forecast", ["forecast", "--out", "adir"], ["--out", "adir", "is a folder"]),
    ("forecast", ["eval", "--checkpoint", "adir"], ["adir", "a directory"]),
    ("classify_rows", ["train", "--data", "cifar"], ["--data", "'cifar'"]),
    ("classify_rows", ["train", "--hidden-size", "0"], ["--hidden-size", ">= 1"]),
    ("classify_rows", ["train", "--batch-size", "-3"], ["--batch-size"]),
    ("classify_rows", ["eval", "--out", "README.md"], ["--out", "README.md", "not a folder"]),
    ("classify_rows", ["eval", "--checkpoint", "missing.safetensors"], ["missing.safetensors"]),
    ("sentiment", ["train", "--vocab-size", "0"], ["--vocab-size", ">= 1"]),
    ("sentiment", ["train", "--pool", "max"], ["--pool", "'max'"]),
    ("sentiment", ["train", "--dropout", "1.5"], ["--dropout", "[0, 1)"]),
    ("sentiment", ["train", "--bucket-width", "0"], ["--bucket-width"]),
    ("sentiment", ["predict", "--checkpoint", "missing.safetensors", "great"],
     ["missing.safetensors"]),
    ("sentiment", ["train", "--train-fraction", "1.5"], ["--train-fraction", "(0, 1]"]),
    ("sentiment", ["train", "--embeddings", "missing.txt"], ["--embeddings", "missing.txt"]),
    ("sentiment", ["train", "--embeddings", "words.csv"], ["--embeddings", "words.csv", "line 1"]),
    ("sentiment", ["train", "--freeze"], ["--freeze", "--embeddings"]),
    ("word2vec", ["train", "--loss", "hinge"], ["--loss", "'hinge'"]),
    ("word2vec", ["train", "--subsample", "0"], ["--subsample", "> 0"]),
    ("word2vec", ["train", "--window", "0"], ["--window", ">= 1"]),
    ("word2vec", ["train", "--data", "missing.txt"], ["--data missing.txt"]),
    ("word2vec", ["neighbours", "king", "--checkpoint", "missing.safetensors"], ["missing.safetensors"]),
    ("word2vec", ["export", "--text", "adir"], ["--text", "adir", "is a folder"]),
    ("word2vec", ["eval", "--checkpoint", "adir"], ["adir", "a directory"]),
    ("generate_rows", ["train", "--form", "diagonal"], ["--form", "'diagonal'"]),
    ("generate_rows", ["train", "--hidden-size", "0"], ["--hidden-size"]),
    ("generate_rows", ["sample", "--per-class", "0"], ["--per-class", ">= 1"]),
    ("generate_rows", ["sample", "--seed", "-1"], ["--seed", ">= 0"]),
    ("generate_rows", ["sample", "--out", "adir"], ["--out", "adir", "is a folder"]),
    ("generate_rows", ["sample", "--checkpoint", "missing.safetensors"], ["missing.safetensors"]),
    ("train", ["missing.jsonl"], ["missing.jsonl", "no such file"]),
    ("train", ["README.md"], ["README.md", "not a metrics log"]),
    ("train", ["words.csv"], ["words.csv", "not a metrics log"]),
    ("train", ["log.jsonl", "-o", "adir"], ["--out", "adir", "is a folder"]),
    ("train", ["log.jsonl", "--labels", "a", "b"], ["--labels", "2 labels for 1 logs"]),
    ("experiments.vanishing", ["--variants", "bogus"], ["--variants", "'bogus'"]),
    ("experiments.vanishing", ["--seeds", "0"], ["--seeds", ">= 1"]),
    ("experiments.vanishing", ["--train-seconds", "-1"], ["--train-seconds", "> 0"]),
    ("experiments.vanishing", ["--train-seeds", "0"], ["--train-seeds"]),
    ("experiments.vanishing", ["--name", "../escape"], ["--name", "'../escape'"]),
    ("experiments.long_term", ["--lengths", "0"], ["--lengths", ">= 1"]),
    ("experiments.long_term", ["--kinds", "bogus"], ["--kinds", "'bogus'"]),
    ("experiments.long_term", ["--seconds", "nan"], ["--seconds", "'nan'"]),
    ("experiments.long_term", ["--same-init"], ["--same-init", "--torch"]),
    ("experiments.long_term", ["--name", "a/b"], ["--name", "'a/b'"]),
    ("experiments.exploding", ["--steps", "0"], ["--steps", ">= 1"]),
    ("experiments.exploding", ["--steps", "many"], ["--steps", "'many'"]),
    ("experiments.family", ["--T", "0"], ["--T", ">= 1"]),
    ("experiments.family", ["--seconds", "-1"], ["--seconds", "> 0"]),
    ("experiments.family", ["--steps", "0"], ["--steps", ">= 1"]),
    ("experiments.family", ["--name", ""], ["--name", "''"]),
    ("experiments.dropout", ["--dropout", "1"], ["--dropout", "[0, 1)"]),
    ("experiments.dropout", ["--seconds", "0"], ["--seconds", "> 0"]),
]

# the command lines a user reported as tracebacks or silent: run as ``python -m`` too
CLI = {("seq2seq", ("train", "--data", "empty.txt", "--smoke")),
       ("seq2seq", ("train", "--data", "one.tsv", "--smoke")),
       ("charlm", ("train", "--data", "hello", "--out", "README.md")),
       ("charlm", ("train", "--data", "hello", "--seed", "-1")),
       ("experiments.long_term", ("--threads", "0")),
       ("experiments.family", ("--out", "/proc/nope")),
       ("charlm", ("train", "--data", "hello", "--resume", "--out", "bad-step")),
       ("charlm", ("train", "--data", "hello", "--resume", "--out", "bad-seed")),
       ("charlm", ("train", "--data", "hello", "--resume", "--out", "null-config")),
       ("experiments.vanishing", ("--variants", "bogus"))}

ROWS = ([(command, TRAIN[command] + argv, words) for command in TRAIN
         for argv, words in SHARED_TRAINING]
        + [(command, argv, words) for command in EXPERIMENTS for argv, words in SHARED_EXPERIMENT]
        + OWN)


def row_id(row):
    command, argv, _ = row
    return f"{command}:{' '.join(argv)}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The scratch folder every row runs in: bad data files, a folder, a trained toy run and
    checkpoints that are damaged in one entry each."""
    root = tmp_path_factory.mktemp("workspace")
    files = {"README.md": "# a file, not a folder\n", "empty.txt": "", "one.tsv": "hello\tbonjour\n",
             "notab.tsv": "hello bonjour\n", "tiny.txt": "ab\n", "words.csv": "a,b\nc,d\n",
             "short.csv": "1\n2\n3\n", "log.jsonl": '{"kind": "eval", "step": 1, "seconds": 1.0, '
                                                   '"exact": 0.5}\n',
             "pairs.tsv": "".join(f"a{i}\tb{i}\n" for i in range(20))}
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "latin1.txt").write_bytes("café\tcafé\n".encode("latin-1"))
    (root / "adir").mkdir()
    (root / "tmp").mkdir()
    charlm.main(["train", "--data", "hello", "--steps", "2", "--eval-every", "2", "--progress",
                 "off", "--out", str(root / "trained")])
    for folder, change in (("bad-step", lambda saved: saved.update(step="12")),
                           ("bad-seed", lambda saved: saved.update(seed=-1)),
                           ("null-config", lambda saved: saved.update(config=None))):
        saved = tg.load(str(root / "trained" / "checkpoint.safetensors"))
        change(saved)
        (root / folder).mkdir()
        tg.save(saved, str(root / folder / "checkpoint.safetensors"))
    return root


def snapshot(root):
    """Every folder and file under ``root``, with the files' contents."""
    found = {}
    for folder, folders, names in os.walk(root):
        for name in folders:
            found[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, root)] = file.read()
    return found


def assert_one_clear_line(stderr, words):
    lines = stderr.strip("\n").split("\n")
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith(("python -m models.", "python -m tinygrad_seq.train:")), stderr
    assert ": error: " in lines[0], stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


@pytest.mark.parametrize("row", ROWS, ids=row_id)
def test_bad_input_is_one_clear_line_and_exit_2(row, workspace, monkeypatch, capsys):
    command, argv, words = row
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(tempfile, "tempdir", str(workspace / "tmp"))
    before = snapshot(workspace)
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        with pytest.raises(SystemExit) as stop:
            MAINS[command](list(argv))
    stderr = capsys.readouterr().err
    assert stop.value.code == 2, stderr
    assert_one_clear_line(stderr, words)
    assert not warned, [str(w.message) for w in warned]  # a warning is a second line on stderr
    assert snapshot(workspace) == before


@pytest.mark.parametrize("row", [row for row in ROWS if (row[0], tuple(row[1])) in CLI],
                         ids=row_id)
def test_bad_input_on_the_command_line(row, workspace):
    """As a user types it: ``python -m`` in a child process, its real stderr."""
    command, argv, words = row
    before = snapshot(workspace)
    done = subprocess.run([sys.executable, "-m", f"models.{command}", *argv], cwd=workspace,
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TMPDIR=str(workspace / "tmp"),
                                   PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert done.returncode == 2, done.stderr
    assert_one_clear_line(done.stderr, words)
    assert snapshot(workspace) == before


def test_the_table_covers_every_command_line():
    assert {command for command, _, _ in ROWS} == set(MAINS)
    assert len(CLI) == len([row for row in ROWS if (row[0], tuple(row[1])) in CLI])
    # the early --resume/--out checks look for the checkpoint under the loop's own name
    assert trainer.RunPaths("x").checkpoint == os.path.join("x", trainer.options.CHECKPOINT_NAME)


def test_an_unexpected_error_keeps_its_traceback(monkeypatch):
    """Only bad input is turned into one line: a bug still shows where it happened."""
    def broken(args):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(charlm, "train", broken)
    with pytest.raises(ZeroDivisionError):
        charlm.main(["train"])


def test_ctrl_c_ends_with_one_line_and_status_130(capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    parser = trainer.ArgumentParser(prog="python -m models.toy")
    parser.set_defaults(func=interrupted)
    with pytest.raises(SystemExit) as stop:
        trainer.run_command(parser, [])
    stderr = capsys.readouterr().err
    assert stop.value.code == 130 and "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("python -m models.toy: stopped by Ctrl-C")


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_a_second_ctrl_c_while_training_quits_quietly(tmp_path):
    """The first Ctrl-C asks the loop to stop after its step; the second quits at once: status
    130 and one line, no KeyboardInterrupt traceback."""
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog\n" * 400, encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-m", "models.charlm", "train", "--data", str(text), "--hidden-size",
         "512", "--bptt", "200", "--batch-size", "32", "--steps", "100000", "--eval-every",
         "100000", "--eval-windows", "1", "--progress", "off", "--out", str(tmp_path / "run")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    seen = []
    try:
        for line in child.stdout:  # the first evaluation: the loop's Ctrl-C handler is on
            if line.startswith("step "):
                seen.append(line)
                break
        child.send_signal(signal.SIGINT)
        for line in child.stdout:
            if line.startswith("Ctrl-C:"):  # the first one is heard: stopping after this step
                seen.append(line)
                break
        time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        rest = child.stdout.read()
        stderr = child.stderr.read()
        code = child.wait(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert len(seen) == 2 and "stopped at step" not in rest, (seen, rest)  # quit mid-step
    assert code == 130, stderr
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr
    assert "stopped by Ctrl-C" in stderr, stderr
