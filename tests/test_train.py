"""The shared training harness of models/: exact resume, budgets, checkpoints, metrics, Ctrl-C."""
import argparse
import json
import os
import re
import signal

import numpy as np
import pytest

import tinygrad_seq as tg
from tinygrad_seq import train as trainer
from tinygrad_seq.train import metrics

pytest.importorskip("tqdm", reason="the train extra (tqdm, matplotlib) is not installed")
pytest.importorskip("matplotlib", reason="the train extra (tqdm, matplotlib) is not installed")


@pytest.fixture(autouse=True)
def no_budget_from_the_environment(monkeypatch):
    monkeypatch.delenv(trainer.MINUTES_ENV, raising=False)  # CI exports one for the main job


class ToyTask:
    """Regression through dropout, a random batch a step and a carried state: every source of
    randomness and every kind of saved state that resume must get exactly right."""

    name, unit, device = "toy", "sample", "cpu"

    def __init__(self, stop_at=None, width=6):
        tg.manual_seed(0)
        self.model = tg.nn.Sequential(tg.nn.Linear(width, 16), tg.nn.Dropout(0.3), tg.nn.Tanh(),
                                      tg.nn.Linear(16, 1))
        self.config, self.identity = {"width": width}, {"data": "toy", "size": 200}
        self.inputs = np.random.default_rng(1).standard_normal((200, width)).astype(np.float32)
        self.targets = np.sin(self.inputs.sum(1, keepdims=True))
        self.carried, self.stop_at = tg.zeros(1), stop_at

    def loss(self, step, rng):
        if step == self.stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C would, in the middle of a step
        rows = rng.integers(0, len(self.inputs), size=8)
        out = self.model(tg.tensor(self.inputs[rows])) + 0.01 * self.carried
        loss = ((out - tg.tensor(self.targets[rows])) ** 2).mean()
        self.carried = (self.carried + loss.detach()).detach()
        return loss, len(rows)

    def evaluate(self):
        out = self.model(tg.tensor(self.inputs))
        return {"val_loss": ((out - tg.tensor(self.targets)) ** 2).mean().item()}

    def report(self, step):
        return f"toy draws {tg.rand(1).item():.3f}"  # uses the random stream between steps

    def state_dict(self):
        return {"carried": self.carried}

    def load_state_dict(self, state):
        self.carried = state["carried"]


def options(*argv, **defaults):
    parser = argparse.ArgumentParser()
    trainer.add_train_options(parser)
    args = parser.parse_args(list(argv))
    return trainer.resolve(args, {"lr": 0.01, "clip": 1.0, "eval_every": 4, "eval_seconds": 60.0,
                                  "minutes": 0.0, **defaults})


def train_losses(out):
    with open(os.path.join(out, "metrics.jsonl")) as file:
        records = [json.loads(line) for line in file]
    return [(r["step"], r["loss"]) for r in records if r["kind"] == "train"]


def weights(task):
    return {name: p.numpy().copy() for name, p in task.model.named_parameters()}


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    straight = ToyTask()
    trainer.fit(straight, options("--steps", "10"), whole)
    trainer.fit(ToyTask(), options("--steps", "3"), cut)
    resumed = ToyTask()
    trainer.fit(resumed, options("--steps", "10", "--resume", "--eval-every", "1"), cut)
    assert train_losses(cut) == train_losses(whole)  # bit for bit, evaluations in between or not
    assert len(train_losses(whole)) == 10
    for name, value in weights(straight).items():
        np.testing.assert_array_equal(weights(resumed)[name], value)
    assert os.path.getsize(os.path.join(cut, "curves.png")) > 0


def test_ctrl_c_stops_after_the_step_and_saves_for_an_exact_resume(tmp_path, capsys):
    whole, cut = str(tmp_path / "whole"), str(tmp_path / "cut")
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs in the background
    trainer.fit(ToyTask(), options("--steps", "8"), whole)
    trainer.fit(ToyTask(stop_at=3), options("--steps", "8"), cut)
    assert "Ctrl-C" in capsys.readouterr().out
    assert tg.load(os.path.join(cut, "checkpoint.safetensors"))["step"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # the handler restored
    trainer.fit(ToyTask(), options("--steps", "8", "--resume"), cut)
    assert train_losses(cut) == train_losses(whole)


def test_a_crashed_runs_extra_log_lines_are_dropped_on_resume(tmp_path):
    out = str(tmp_path)
    trainer.fit(ToyTask(), options("--steps", "4"), out)
    with open(os.path.join(out, "metrics.jsonl"), "a") as file:  # logged, never checkpointed
        file.write(json.dumps({"kind": "train", "step": 5, "seconds": 1.0, "loss": 9.0}) + "\n")
    trainer.fit(ToyTask(), options("--steps", "6", "--resume"), out)
    assert [step for step, _ in train_losses(out)] == [1, 2, 3, 4, 5, 6]


def test_a_killed_runs_half_written_last_log_line_is_dropped_on_resume(tmp_path):
    out = str(tmp_path)
    trainer.fit(ToyTask(), options("--steps", "4"), out)
    with open(os.path.join(out, "metrics.jsonl"), "a") as file:  # killed in the middle of a write
        file.write(json.dumps({"kind": "train", "step": 5, "seconds": 1.0, "loss": 9.0}) + "\n")
        file.write('{"kind": "train", "step": 6, "sec')
    trainer.fit(ToyTask(), options("--steps", "6", "--resume"), out)
    assert [step for step, _ in train_losses(out)] == [1, 2, 3, 4, 5, 6]


def test_metrics_read_drops_only_an_unparsable_last_line(tmp_path):
    good = [{"kind": "train", "step": 1, "loss": 1.0}, {"kind": "train", "step": 2, "loss": 0.5}]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + '{"kind": "tr')
    assert metrics.read(str(path)) == good
    path.write_text("".join(json.dumps(r) + "\n" for r in good) + "\n")  # blank lines are no line
    assert metrics.read(str(path)) == good
    path.write_text(json.dumps(good[0]) + "\n" + '{"kind": "tr\n' + json.dumps(good[1]) + "\n")
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        metrics.read(str(path))


@pytest.mark.parametrize("draw", ["curves", "images"])
def test_a_failed_plot_leaves_no_temporary_file(tmp_path, monkeypatch, draw):
    import matplotlib.figure

    def savefig(figure, name, **options):
        with open(name, "wb") as file:
            file.write(b"\x89PNG half")
        raise OSError("disk full")
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    log = tmp_path / "metrics.jsonl"
    log.write_text(json.dumps({"kind": "train", "step": 1, "seconds": 0.1, "loss": 1.0}) + "\n")
    out = str(tmp_path / "plot.png")
    with pytest.raises(OSError, match="disk full"):
        if draw == "curves":
            metrics.plot([str(log)], out)
        else:
            metrics.plot_images(np.zeros((2, 3, 3)), out)
    assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl"]


def write_log(path, engine, scores):
    """A log of two training steps and an evaluation (val_loss and bleu) after each."""
    records = [{"kind": "run", "engine": engine, "step": 0}]
    for step, score in enumerate(scores, 1):
        records += [{"kind": "train", "step": step, "seconds": step / 10, "loss": 1.0 / step},
                    {"kind": "eval", "step": step, "seconds": step / 10, "val_loss": 2.0 / step,
                     "bleu": score}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_the_plotter_draws_the_losses_or_another_metric_of_the_evaluations(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    drawn = []
    monkeypatch.setattr(metrics, "save_figure", lambda figure, out: drawn.append(figure))
    a = write_log(tmp_path / "a.jsonl", "tinygrad_seq", [0.25, 0.5])
    b = write_log(tmp_path / "b.jsonl", "tinygrad_seq", [0.125, 0.75])
    torch_log = write_log(tmp_path / "t.jsonl", "torch", [0.0, 0.0])
    metrics.plot([a, b], "curves.png", metric="bleu")
    metrics.plot([a, torch_log], "curves.png")
    by_steps = [figure.axes[0] for figure in drawn]
    for figure in drawn:
        plt.close(figure)
    # the metric alone, one curve a log, told apart by path (both logs are tinygrad_seq's)
    assert [line.get_label() for line in by_steps[0].lines] == [a, b]
    assert [list(line.get_ydata()) for line in by_steps[0].lines] == [[0.25, 0.5], [0.125, 0.75]]
    assert list(by_steps[0].lines[0].get_xdata()) == [1, 2]
    assert by_steps[0].get_ylabel() == "held-out bleu"
    # the losses: training and validation, told apart by engine
    assert [line.get_label() for line in by_steps[1].lines] == [
        "tinygrad_seq train", "tinygrad_seq validation", "torch train", "torch validation"]
    assert list(by_steps[1].lines[1].get_ydata()) == [2.0, 1.0]
    assert by_steps[1].get_ylabel() == "loss (nats per character)"


BAR = re.compile(r" *(\d+)%\|[^|]*\| (\d\d:\d\d)<(\d\d:\d\d|\?), step (\d+), loss (\d+\.\d{3}), "
                 r"([\d,]+) sample/s$")


def bar_states(stderr):
    """Every state the tqdm bar drew on stderr (it redraws its line after a carriage return):
    (percent, elapsed, remaining, step, loss, rate), once it has trained a step."""
    return [match.groups() for match in map(BAR.match, re.split(r"[\r\n]", stderr)) if match]


def smoothed(values):
    """What the bar shows of a quantity that jumps from step to step: an exponential moving
    average, 0.1 of the newest value."""
    average = None
    for value in values:
        average = value if average is None else 0.9 * average + 0.1 * value
    return average


def train_records(out):
    with open(os.path.join(out, "metrics.jsonl")) as file:
        return [r for r in map(json.loads, file) if r["kind"] == "train"]


@pytest.mark.parametrize("budget", ["time", "steps"])
def test_the_progress_bar_shows_the_step_the_loss_the_rate_and_the_eta(tmp_path, capsys, budget,
                                                                      monkeypatch):
    monkeypatch.setattr(metrics, "load_average", lambda: 0.0)  # a quiet machine: no "busy"
    if budget == "time":
        flags = ["--minutes", "0.05"]
        # a process's first plot imports pyplot and builds its fonts (a second or more), and the
        # time budget counts evaluations: draw one first, so that the budget goes to training
        log = tmp_path / "warm.jsonl"
        log.write_text(json.dumps({"kind": "train", "step": 1, "seconds": 0.1, "loss": 1.0}) + "\n")
        metrics.plot([str(log)], str(tmp_path / "warm.png"))
    else:
        flags = ["--steps", "6", "--minutes", "10", "--eval-every", "100"]
    out = str(tmp_path / "run")
    result = trainer.fit(ToyTask(), options(*flags, "--progress", "on"), out)
    shown = capsys.readouterr()
    states = bar_states(shown.err)
    assert states and not bar_states(shown.out)  # on stderr, leaving stdout to the log lines
    percent, elapsed, remaining, step, loss, rate = states[-1]
    records = train_records(out)
    assert int(step) == result["step"] == len(records)
    assert loss == f"{smoothed(r['loss'] for r in records):.3f}"
    # the log keeps each step's rate to 0.1 unit/s: the bar's whole number may differ by one
    assert abs(int(rate.replace(",", "")) - smoothed(r["rate"] for r in records)) <= 1
    percents = [int(s[0]) for s in states]
    assert percents == sorted(percents)  # the bar only moves forward
    if budget == "steps":  # the steps end first: the bar is full, nothing remains
        assert result["step"] == 6 and (percent, remaining) == ("100", "00:00")
        assert "(the step budget)" in shown.out
    else:  # no step budget: the clock alone moves the bar, and it ends the run
        assert 1 <= int(percent) <= 100 and remaining != "?"
        assert result["step"] >= 1 and f"stopped at step {step} (the time budget)" in shown.out


def test_minutes_default_comes_from_the_environment_and_an_explicit_one_wins(monkeypatch):
    monkeypatch.setenv(trainer.MINUTES_ENV, "0.5")
    assert options(minutes=3.0).minutes == 0.5
    assert options("--minutes", "2", minutes=3.0).minutes == 2.0
    monkeypatch.setenv(trainer.MINUTES_ENV, "soon")
    with pytest.raises(trainer.UsageError, match="TINYGRAD_SEQ_MINUTES"):
        options(minutes=3.0)
    monkeypatch.delenv(trainer.MINUTES_ENV)
    assert options(minutes=3.0).minutes == 3.0


@pytest.mark.skipif(tg.cuda_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(trainer.UsageError, match="no usable CUDA GPU"):
        trainer.use_device(options("--device", "cuda"))


@pytest.fixture
def checkpoint(tmp_path):
    trainer.fit(ToyTask(), options("--steps", "2"), str(tmp_path))
    return str(tmp_path / "checkpoint.safetensors")


@pytest.mark.parametrize("damage, message", [
    ("missing", "no checkpoint at"),
    ("truncated", "damaged or half-written"),
    ("plain", "not a training checkpoint"),
    ("other model", "of model 'other', not 'toy'"),
])
def test_bad_checkpoints_are_refused_by_name(checkpoint, damage, message):
    if damage == "missing":
        os.remove(checkpoint)
    elif damage == "truncated":
        with open(checkpoint, "r+b") as file:
            file.truncate(os.path.getsize(checkpoint) // 2)
    elif damage == "plain":
        tg.save(tg.nn.Linear(2, 2).state_dict(), checkpoint)
    else:
        saved = tg.load(checkpoint)
        tg.save(dict(saved, model_name="other"), checkpoint)
    with pytest.raises(trainer.UsageError, match=message):
        trainer.fit(ToyTask(), options("--steps", "4", "--resume"), os.path.dirname(checkpoint))


def test_resume_refuses_other_data_or_another_model(checkpoint):
    out = os.path.dirname(checkpoint)
    other = ToyTask()
    other.identity = {"data": "toy", "size": 300}
    with pytest.raises(trainer.UsageError, match="other data.*size: checkpoint 200"):
        trainer.fit(other, options("--steps", "4", "--resume"), out)
    with pytest.raises(trainer.UsageError, match="another model: width=6 in the checkpoint, 5"):
        trainer.fit(ToyTask(width=5), options("--steps", "4", "--resume"), out)


# ---------------------------------------------------------------- a busy machine

@pytest.mark.parametrize("load, cores, own, said", [
    (3.1, 2, 1, "busy: load 3.1 on 2 cores"),   # others take 2.1 of 2 cores
    (2.0, 2, 1, None),                          # others take 1: this run keeps a core
    (2.01, 2, 1, "busy: load 2.01 on 2 cores"),
    (2.9, 2, 2, None),                          # this run's 2 threads may be 2 of the 2.9
    (3.1, 2, 2, "busy: load 3.1 on 2 cores"),
    (1.5, 1, 1, "busy: load 1.5 on 1 core"),
    (0.9, 1, 1, None),
    (7.0, 8, 1, None),
    (None, 2, 1, None),                         # no load average here: nothing is guessed
])
def test_busy_when_other_processes_leave_less_than_one_core(load, cores, own, said):
    assert metrics.busy(load, cores, own) == said


def test_cores_are_those_the_process_may_run_on(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    assert metrics.cores() == 1
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert metrics.cores() == 6


BUSY = re.compile(r"busy: load (\d+(?:\.\d+)?) on (\d+) cores?$")


@pytest.mark.parametrize("falls", [False, True])
def test_a_busy_machine_is_said_once_and_shown_while_it_lasts(tmp_path, capsys, monkeypatch,
                                                              falls):
    cores = metrics.cores()
    high = float(cores + 40)
    loads = [high] * 3 + [0.0 if falls else high] * 2  # one measure at each of 5 evaluations
    measured = iter(loads)
    monkeypatch.setattr(metrics, "load_average", lambda: next(measured))
    monkeypatch.setattr(metrics, "plot", lambda *args, **kwargs: None)  # not under test: slow
    out = str(tmp_path)
    trainer.fit(ToyTask(), options("--steps", "8", "--eval-every", "2", "--progress", "on"), out)
    shown = capsys.readouterr()
    with open(os.path.join(out, "metrics.jsonl")) as file:
        evaluations = [r for r in map(json.loads, file) if r["kind"] == "eval"]
    assert [r["load"] for r in evaluations] == loads  # the load logged is the load judged
    said = [line for line in shown.out.splitlines() if line.startswith("warning:")]
    assert len(said) == 1, shown.out
    assert f"load average {high:g} on {cores} core" in said[0] and "less than one core" in said[0]
    last = re.split(r"[\r\n]", shown.err.rstrip())[-1]  # the bar as it was left, at the end
    match = BUSY.search(last)
    if falls:
        assert match is None and last.endswith("sample/s"), last
    else:
        assert match and match.groups() == (f"{high:g}", str(cores)), last

