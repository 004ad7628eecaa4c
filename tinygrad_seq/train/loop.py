"""The training loop every model hands its task to.

A *task* is the model's side of training, duck-typed (subclass ``Task`` to take the defaults
of the optional parts):

    name            the model's name, kept in checkpoints ("charlm")
    model           the Module, already on its device (the trainer reads ``model.device``)
    config          a dict that rebuilds the model (saved; --resume refuses another)
    identity        a dict naming the data and vocabulary (saved; --resume refuses other data)
    unit            what the rate counts ("char", "sample")
    loss(step, rng) the training loss of step ``step`` (1, 2, ...) and how many units it covers;
                    ``rng`` is a NumPy Generator for the batch
    evaluate()      held-out metrics, a dict whose first entry is "val_loss"
    report(step)    optional: text printed after each evaluation (a sample), or None
    state_dict() / load_state_dict(state)   optional: what it carries from step to step (the
                    recurrent state of truncated BPTT), or None
    check()         optional: refuse options that do not fit the data (UsageError), called
                    after --resume's checks so that a wrong checkpoint is named first

``fit`` runs Adam with gradient-norm clipping under a step and a time budget, evaluates and
checkpoints every ``--eval-every`` steps or ``--eval-seconds`` seconds and at the end, logs
metrics and plots them, shows a progress bar, and stops cleanly on Ctrl-C after saving.

Exact resume: before step k the random streams are reseeded from (seed, k): tg's, for dropout
and whatever the model draws, and a NumPy Generator handed to ``loss`` for the batch. So the
random state at any step is a function of the seed and the step, and a checkpoint holding the
step, the weights, the optimizer state and the task's carried state continues exactly as the
uninterrupted run would have; evaluation and sampling in between do not disturb it.
"""
import math
import os
import signal
import sys
import threading
import time

import tinygrad_seq as tg

from . import checkpoint, extras, initial, metrics, parallel, runs
from .batches import step_random
from .errors import UsageError
from .options import stderr_is_terminal


class Task:
    """The defaults of a task's optional parts: no report, nothing carried between steps."""

    def report(self, step):
        return None

    def state_dict(self):
        return None

    def load_state_dict(self, state):
        pass


class RunPaths:
    def __init__(self, out_dir):
        self.dir = out_dir
        self.checkpoint = os.path.join(out_dir, "checkpoint.safetensors")
        self.metrics = os.path.join(out_dir, "metrics.jsonl")
        self.plot = os.path.join(out_dir, "curves.png")


class StopOnCtrlC:
    """The first Ctrl-C asks the loop to stop after the current step (it then saves); a second
    one stops at once (the last checkpoint stays whole: saves are atomic)."""

    def __init__(self, say):
        self.requested, self.say, self.previous = False, say, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.say("Ctrl-C: stopping after this step and saving (Ctrl-C again to quit at once)")

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class Progress:
    """A tqdm bar over whichever budget ends first, with the loss, the rate and the ETA, and
    while other processes crowd the machine, that it is busy."""

    TICKS = 1000

    def __init__(self, enabled, steps, seconds, step, unit, quiet=False):
        tqdm = extras.tqdm()
        self.steps, self.seconds, self.unit, self.quiet = steps, seconds, unit, quiet
        self.start, self.loss, self.rate = time.perf_counter(), None, None
        self.shown, self.busy = "", None
        bounded = steps is not None or seconds is not None
        self.bar = tqdm(total=self.TICKS if bounded else None, initial=self._ticks(step),
                        disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                        bar_format=("{percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
                                    if bounded else "{elapsed}{postfix}"))

    def _ticks(self, step):
        fraction = 0.0
        if self.steps:
            fraction = step / self.steps
        if self.seconds:
            fraction = max(fraction, (time.perf_counter() - self.start) / self.seconds)
        return min(self.TICKS, int(self.TICKS * fraction))

    def update(self, step, loss, rate):
        average = lambda old, new: new if old is None else 0.9 * old + 0.1 * new
        self.loss, self.rate = average(self.loss, loss), average(self.rate, rate)
        self.shown = f"step {step}, loss {self.loss:.3f}, {self.rate:,.0f} {self.unit}/s"
        self._postfix()
        self.bar.update(self._ticks(step) - self.bar.n)

    def show_busy(self, text):
        """Show ``text`` ("busy: load 3.1 on 2 cores") after the rate, or nothing for None."""
        self.busy = text
        self._postfix()

    def _postfix(self):
        self.bar.set_postfix_str(", ".join(filter(None, [self.shown, self.busy])), refresh=False)

    def write(self, text):
        if not self.quiet:  # ranks > 0 of --distributed
            self.bar.write(text, file=sys.stdout)

    def close(self):
        self.bar.close()


class BusyMachine:
    """Says once, and shows in the progress bar for as long as it lasts, that other processes
    leave the run less than one core (``metrics.busy``): its rates and what its time budget
    buys are then the machine's crowding as much as the model's. ``own``: the run's threads,
    every process of it counted as if on this machine: an upper bound of its share, so the
    run's own work is never taken for a crowd."""

    def __init__(self, bar, own):
        self.bar, self.own, self.cores, self.warned = bar, own, metrics.cores(), False

    def check(self, load):
        text = metrics.busy(load, self.cores, self.own)
        self.bar.show_busy(text)
        if text and not self.warned:
            self.warned = True
            self.bar.write(f"warning: the machine is busy: load average {load:g} on "
                           f"{self.cores} core{'' if self.cores == 1 else 's'}, at most "
                           f"{self.own} of it this run's own: other processes leave it less "
                           f"than one core, so it trains slower than this machine can (the "
                           f"progress bar shows it while it lasts)")


def fit(task, args, out_dir, progress=None):
    """Train ``task`` as ``args`` say (see options.add_train_options); write the checkpoint,
    metrics log and plot into ``out_dir``. Returns the last evaluation's metrics, with "step".

    The run holds ``out_dir`` (runs.RunLock) until it ends, however it ends. A folder that holds
    a checkpoint is refused unless ``--resume`` continues it or ``--overwrite`` replaces it; an
    overwritten run's checkpoint, log and plot stay as they were until the new run writes its
    first checkpoint (its log is kept aside until then)."""
    par = parallel.Parallel(args, task)  # --distributed; no-ops in a single process
    if args.resume and getattr(args, "overwrite", False):
        raise UsageError("--resume continues the run in --out and --overwrite replaces it: "
                         "drop one of them")
    lock = runs.RunLock(out_dir) if par.lead else runs.NoLock()  # rank 0 writes for the job
    try:
        return _fit(task, args, out_dir, progress, par)
    finally:
        lock.release()


class _RunLog(metrics.MetricsLog):
    """The run's metrics log: a write that fails (a full or read-only disk) is a UsageError
    naming the file, one line and exit 2, not a traceback."""

    def __init__(self, *args, **kwargs):
        try:
            super().__init__(*args, **kwargs)
        except OSError as e:
            raise UsageError(str(e)) from None

    def write(self, record):
        try:
            super().write(record)
        except OSError as e:
            raise UsageError(str(e)) from None

    def commit(self):
        try:
            super().commit()
        except OSError as e:
            raise UsageError(str(e)) from None


def _fit(task, args, out_dir, progress, par):
    paths = RunPaths(out_dir)
    optimizer = tg.optim.Adam(task.model.parameters(), lr=args.lr)
    step, seconds, seed = 0, 0.0, args.seed
    init_from, save_init = getattr(args, "init_from", None), getattr(args, "save_init", None)
    if args.resume and (init_from or save_init):
        raise UsageError("--init-from and --save-init start a new run; --resume continues the "
                         "checkpoint's weights (drop one of them)")
    if args.resume:
        saved = checkpoint.load(paths.checkpoint, task.name, device=task.model.device)
        checkpoint.check_config(saved, paths.checkpoint, task.config)
        checkpoint.check_identity(saved, paths.checkpoint, task.identity)
        checkpoint.check_weights(saved, paths.checkpoint, task.model)
        checkpoint.check_device(saved, paths.checkpoint, task.model.device)
        task.model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        task.load_state_dict(saved["task_state"])
        step, seconds, seed = saved["step"], saved["seconds"], saved["seed"]
    elif os.path.exists(paths.checkpoint) and not getattr(args, "overwrite", False):
        raise UsageError(f"{out_dir} holds a trained run ({paths.checkpoint}): --resume "
                         f"continues it, --overwrite replaces it, or choose another --out")
    runs.refuse_symlinks(paths.metrics, paths.plot)
    if os.path.islink(paths.checkpoint) and par.lead:
        print(f"note: {paths.checkpoint} is a symbolic link: the checkpoint is written to "
              f"{os.path.realpath(paths.checkpoint)}")
    if init_from:
        initial.load_initial(task.model, init_from)
    if hasattr(task, "check"):
        task.check()
    parallel.check_batch(args)
    par.synchronize(task, optimizer)  # rank 0's weights and optimizer state everywhere
    os.makedirs(out_dir, exist_ok=True)  # after every check: bad input leaves nothing behind
    if save_init and par.lead:
        initial.save_initial(task.model, save_init)
    minutes = args.minutes or None  # 0: no time budget
    budget = minutes * 60 if minutes else None
    enabled = {"on": True, "off": False}.get(args.progress, stderr_is_terminal())
    bar = Progress((enabled if progress is None else progress) and par.lead, args.steps, budget,
                   step, task.unit, quiet=not par.lead)
    log = (_RunLog(paths.metrics, resume_step=step if args.resume else None,
                   pending=not args.resume)  # a new run's log replaces the old with its checkpoint
           if par.lead else parallel.NullLog())
    threads = _threads()
    log.write({"kind": "run", "engine": "tinygrad_seq", "model": task.name, "step": step,
               "config": task.config, "identity": _brief(task.identity), "seed": seed,
               "init_from": init_from, "save_init": save_init,
               "lr": args.lr, "clip": args.clip, "device": task.model.device,
               "threads": threads, "resumed": bool(args.resume), "processes": par.size})
    crowd = BusyMachine(bar, (threads or 1) * par.size)
    limits = ", ".join(filter(None, [f"{args.steps} steps" if args.steps else None,
                                     f"{minutes:g} minutes" if minutes else None])) or "none"
    bar.write(f"{'resuming at step ' + str(step) if args.resume else 'training'}: budget "
              f"{limits}; evaluating every {args.eval_every} steps or {args.eval_seconds:g} s; "
              f"writing to {out_dir}{par.describe()}")

    start = time.perf_counter()
    state = {"step": step, "seconds": seconds, "last": None, "eval_cost": 0.0,
             "eval_step": step, "eval_time": start,
             "window": {"steps": 0, "loss": 0.0, "units": 0, "seconds": 0.0}}

    def evaluate_and_save():
        began = time.perf_counter()
        task.model.eval()
        with tg.no_grad():
            result = par.eval_metrics(task.evaluate())
            step_random(seed, state["step"], stream=1)  # sampling: its own stream
            report = task.report(state["step"]) if par.lead else None
        load = metrics.load_average()
        log.write({"kind": "eval", "step": state["step"], "seconds": round(state["seconds"], 3),
                   **result, "load": load})
        save()
        par.barrier()  # the other ranks sleep while rank 0 samples and saves
        shown = "  ".join(f"{key} {value:.4f}" for key, value in result.items())
        window = state["window"]  # the steps since the last evaluation
        trained = ""
        if window["steps"]:
            rate = window["units"] / window["seconds"]
            trained = f"train_loss {window['loss'] / window['steps']:.4f}  {rate:,.0f} {task.unit}/s  "
        bar.write(f"step {state['step']:>6}  {trained}{shown}  (load average {load})")
        crowd.check(load)
        state["window"] = {"steps": 0, "loss": 0.0, "units": 0, "seconds": 0.0}
        if report:
            bar.write(report)
        state.update(last=dict(result, step=state["step"]), eval_step=state["step"],
                     eval_time=time.perf_counter(), eval_cost=time.perf_counter() - began)

    def save():
        if not par.lead:
            return
        try:
            checkpoint.save(paths.checkpoint, model_name=task.name, config=task.config,
                            identity=task.identity, model=task.model, optimizer=optimizer,
                            step=state["step"], seconds=state["seconds"], seed=seed,
                            task_state=task.state_dict(), options={"lr": args.lr, "clip": args.clip})
        except OSError as e:
            raise UsageError(f"cannot save the checkpoint: {e}") from None
        log.commit()
        try:
            metrics.plot([paths.metrics], paths.plot)
        except OSError as e:  # the checkpoint and the log are saved: training goes on
            bar.write(f"warning: the plot was not written ({e}); training goes on")

    why = "the step budget"
    try:
        with StopOnCtrlC(bar.write) as interrupt:
            if state["step"] == 0:
                evaluate_and_save()  # the untrained baseline: val_loss near ln(vocabulary)
            while True:
                if args.steps is not None and state["step"] >= args.steps:
                    break
                now = time.perf_counter()
                over, interrupted = par.any(  # every rank decides alike
                    budget is not None and now + state["eval_cost"] - start >= budget,
                    interrupt.requested)
                if over:
                    why = "the time budget"
                    break
                if interrupted:
                    why = "Ctrl-C"
                    break
                marks = par.marks()
                loss, count = _train_step(task, optimizer, args.clip, seed, state["step"] + 1, par)
                took = time.perf_counter() - now
                due = (state["step"] + 1 - state["eval_step"] >= args.eval_every
                       or time.perf_counter() - state["eval_time"] >= args.eval_seconds)
                loss, count, due, interrupted = par.step_metrics(loss, count, due,
                                                                 interrupt.requested)
                par.check_sharded(bar.write)
                state["step"] += 1
                state["seconds"] += took
                log.write({"kind": "train", "step": state["step"],
                           "seconds": round(state["seconds"], 3), "loss": loss,
                           "rate": round(count / took, 1),
                           **par.step_record(marks)})
                if not math.isfinite(loss):
                    raise FloatingPointError(f"the training loss is {loss} at step {state['step']}: "
                                             f"training diverged (try a lower --lr or --clip)")
                bar.update(state["step"], loss, count / took)
                window = state["window"]
                window.update(steps=window["steps"] + 1, loss=window["loss"] + loss,
                              units=window["units"] + count, seconds=window["seconds"] + took)
                if due and not interrupted:
                    evaluate_and_save()
            if why == "Ctrl-C":
                save()
            elif state["eval_step"] != state["step"]:
                evaluate_and_save()
    finally:
        bar.close()
        log.close()
    bar.write(f"stopped at step {state['step']} ({why}); {state['seconds']:.0f} s of training in "
              f"all\n  checkpoint {paths.checkpoint}\n  metrics    {paths.metrics}\n"
              f"  plot       {paths.plot}\n  (--resume continues this run)")
    return state["last"]


def _train_step(task, optimizer, clip, seed, step, par=None):
    rng = step_random(seed, step)
    if par is not None:  # --distributed: this rank's share of the batch
        rng = par.generator(rng, seed, step)
    task.model.train()
    loss, count = task.loss(step, rng)
    optimizer.zero_grad()
    loss.backward()
    if par is not None:
        par.average_gradients()  # before clipping: every rank clips the same mean gradient
    if clip:
        tg.optim.clip_grad_norm_(task.model.parameters(), clip)
    optimizer.step()
    return loss.item(), count


def _brief(identity):
    return {key: value if not isinstance(value, str) or len(value) <= 200 else value[:200] + "..."
            for key, value in identity.items()}


def _threads():
    try:
        return tg.get_num_threads()
    except RuntimeError:
        return None
