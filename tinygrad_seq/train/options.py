"""The command-line options every model shares (budgets, seed, device, evaluation, output), and
the one error type a model's CLI turns into a clean message.

Bad input is one line and exit status 2, never a traceback: a bad value is refused as the
command line is read (the types of arguments.py), a bad combination of options or a folder that
does not fit (``--resume`` with no checkpoint in ``--out``...) by ``resolve`` before any data is
loaded, and what only the data or a checkpoint can tell is a ``UsageError`` raised where it is
found and printed by ``run_command`` (or ``exit_cleanly`` for the experiments). Any other
exception is a bug and keeps its traceback. Ctrl-C outside the training loop, or a second one
inside it, ends the program with one line and exit status 130, as a shell reports SIGINT.

The default time budget is the model's own (``resolve``'s defaults) unless the environment sets
``TINYGRAD_SEQ_MINUTES``: CI exports it to run the README's main job, unchanged, in less time.
An explicit ``--minutes`` wins over both.
"""
import argparse
import contextlib
import os
import sys
import tempfile

import tinygrad_seq as tg

from .errors import UsageError
from .arguments import (ArgumentParser, existing_file, file_stem, finite_float,  # noqa: F401
                        non_negative_float, non_negative_int, output_file,
                        output_file_in_new_folders, output_folder, positive_float, positive_int,
                        probability)

MINUTES_ENV = "TINYGRAD_SEQ_MINUTES"


def add_device_option(parser):
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda or cuda:N (CUDA needs CuPy: the cuda12/cuda13 extra)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="BLAS threads on the CPU (default: leave as they are)")


def add_train_options(parser):
    """Options of ``fit``: budgets, seed, evaluation schedule, optimizer, output, device. Those
    left unset take the model's defaults in ``resolve``."""
    group = parser.add_argument_group("training (the shared harness)")
    group.add_argument("--steps", type=positive_int, default=None,
                       help="stop after this many steps in all (counting those before --resume)")
    group.add_argument("--minutes", type=non_negative_float, default=None,
                       help=f"wall-clock budget of this run, 0 for none (default: the model's, or "
                            f"${MINUTES_ENV} when set)")
    group.add_argument("--seed", type=non_negative_int, default=0)
    group.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    group.add_argument("--clip", type=non_negative_float, default=None,
                       help="clip the gradient norm at this value (0: no clipping)")
    group.add_argument("--eval-every", type=positive_int, default=None, metavar="STEPS",
                       help="evaluate (and checkpoint) every this many steps...")
    group.add_argument("--eval-seconds", type=positive_float, default=None, metavar="SECONDS",
                       help="...or after this many seconds, whichever comes first")
    group.add_argument("--out", type=output_folder, default=None,
                       help="directory of the checkpoint, metrics log and plot (--smoke: a new "
                            "temporary folder)")
    group.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint in --out exactly where it stopped")
    group.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (its checkpoint, log and plot stay until "
                            "the new run writes its first checkpoint); without it a folder "
                            "holding a checkpoint is refused")
    group.add_argument("--init-from", type=existing_file, default=None, metavar="FILE",
                       help="start from these initial weights (safetensors, PyTorch's names and "
                            "layout, e.g. a PyTorch twin's --save-init) instead of --seed's draw")
    group.add_argument("--save-init", type=output_file_in_new_folders, default=None, metavar="FILE",
                       help="write the initial weights (safetensors) before the first step, for "
                            "a twin's --init-from")
    group.add_argument("--progress", choices=["auto", "on", "off"], default="auto",
                       help="progress bar (auto: on a terminal)")
    parallel = parser.add_argument_group("data-parallel training (docs/distributed.md)")
    parallel.add_argument("--distributed", action="store_true",
                          help="train data-parallel over the processes mpiexec started "
                               "(mpiexec -n 2 python -m ... --distributed); --batch-size is "
                               "the batch of all of them together; alone: one process")
    parallel.add_argument("--bucket-mb", type=positive_float, default=25.0, metavar="MB",
                          help="average the gradients in buckets of this many megabytes, one "
                               "Allreduce each (25)")
    parallel.add_argument("--collective-timeout", type=positive_float, default=None,
                          metavar="SECONDS",
                          help="abort the whole job when a process waits this long for the "
                               "others (default: $TINYGRAD_SEQ_DIST_TIMEOUT or 300)")
    add_device_option(parser)


def resolve(args, defaults):
    """Give every option left unset (None) its value from ``defaults``; ``minutes`` comes from
    $TINYGRAD_SEQ_MINUTES first when that is set; a ``--smoke`` run without ``--out`` gets a
    new temporary folder (``smoke_folder``)."""
    if getattr(args, "minutes", 0) is None and os.environ.get(MINUTES_ENV):
        text = os.environ[MINUTES_ENV]
        try:
            args.minutes = non_negative_float(text)
        except (ValueError, argparse.ArgumentTypeError):
            raise UsageError(f"${MINUTES_ENV} must be a number of minutes >= 0, got {text!r}") from None
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    check_run_folder(args)
    return smoke_folder(args)


CHECKPOINT_NAME = "checkpoint.safetensors"  # loop.RunPaths' name of the checkpoint


def check_run_folder(args):
    """Refuse, before any data is loaded, the options that cannot fit together or fit the
    folder ``--out`` names (when given; a model's default folder is checked by ``fit``):
    ``--resume`` with ``--overwrite``, ``--init-from`` or ``--save-init``, or with no
    checkpoint to continue; a new run over a trained one without ``--overwrite``."""
    resume = getattr(args, "resume", False)
    if resume and getattr(args, "overwrite", False):
        raise UsageError("--resume continues the run in --out and --overwrite replaces it: "
                         "drop one of them")
    if resume and (getattr(args, "init_from", None) or getattr(args, "save_init", None)):
        raise UsageError("--init-from and --save-init start a new run; --resume continues the "
                         "checkpoint's weights (drop one of them)")
    out = getattr(args, "out", None)
    if out is None:
        return
    checkpoint = os.path.join(out, CHECKPOINT_NAME)
    if resume and not os.path.lexists(checkpoint):
        raise UsageError(f"--resume: no checkpoint at {checkpoint} to continue (train first, or "
                         f"pass the --out of the run to continue)")
    if not resume and os.path.lexists(checkpoint) and not getattr(args, "overwrite", False):
        raise UsageError(f"{out} holds a trained run ({checkpoint}): --resume continues it, "
                         f"--overwrite replaces it, or choose another --out")


def smoke_folder(args):
    """A new temporary folder for a ``--smoke`` run given no ``--out``, so that a smoke run never
    lands on a trained run; printed, and set as ``args.out``."""
    if getattr(args, "smoke", False) and getattr(args, "out", "") is None:
        name = getattr(getattr(args, "func", None), "__module__", "run").rsplit(".", 1)[-1]
        args.out = args.smoke_folder = tempfile.mkdtemp(prefix=f"{name}-smoke-")
        print(f"--smoke: writing to {args.out} (a new temporary folder; --out chooses another)",
              flush=True)
    return args


def _remove_unused_smoke_folder(args):
    """A smoke run refused before it wrote anything leaves no empty temporary folder."""
    folder = getattr(args, "smoke_folder", None)
    if folder:
        try:
            os.rmdir(folder)  # only when empty
        except OSError:
            pass


def use_device(args):
    """Check --device (a clear error when CUDA is asked for and unusable) and apply --threads."""
    device = args.device
    try:
        device = tg.backend.canonical_device(device)
    except ValueError as e:
        raise UsageError(f"--device: {e}") from None
    if device.startswith("cuda") and not tg.cuda_available():
        raise UsageError(f"--device {args.device}: no usable CUDA GPU here (CuPy is not installed "
                         f"or sees no GPU); install it with {tg.backend.CUDA_INSTALL_HINT}, or "
                         f"use --device cpu")
    if args.threads:
        tg.set_num_threads(args.threads)
    if getattr(args, "distributed", False):
        from . import parallel
        parallel.start(args)
        if args.device == "cuda" and tg.distributed.world_size() > 1:
            device = f"cuda:{tg.distributed.local_rank()}"  # each process its own GPU
    return device


INTERRUPTED = 130  # the status a shell gives a program that SIGINT ended


@contextlib.contextmanager
def exit_cleanly(prog):
    """Within it, a UsageError ends the program with ``PROG: error: MESSAGE`` on stderr and exit
    status 2, as argparse's own errors do, and Ctrl-C (KeyboardInterrupt) with one line and
    status 130; any other exception passes untouched, traceback and all: it is a bug.

    >>> try:
    ...     with exit_cleanly("prog"):
    ...         raise UsageError("--data x: no such file")
    ... except SystemExit as stop:
    ...     print(stop.code)
    2
    """
    try:
        yield
    except UsageError as e:
        _exit(2, f"{prog}: error: {e}")
    except KeyboardInterrupt:
        _exit(INTERRUPTED, f"{prog}: stopped by Ctrl-C (saved checkpoints are whole: each is "
                           f"written atomically)")


def _exit(status, line):
    sys.stdout.flush()  # what the program said before comes first
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    raise SystemExit(status)


def run_command(parser, argv=None):
    """Parse ``argv`` and call the chosen sub-command's ``func(args)`` within ``exit_cleanly``:
    bad input ends the program with one line and exit status 2, Ctrl-C with status 130."""
    args = parser.parse_args(argv)
    try:
        try:
            with exit_cleanly(parser.prog if not getattr(args, "command", None)
                              else f"{parser.prog} {args.command}"):
                return args.func(args)
        finally:
            _remove_unused_smoke_folder(args)
    except SystemExit as e:  # under mpiexec the other processes must not wait for this one
        if e.code not in (None, 0) and tg.distributed.world_size() > 1:
            tg.distributed.abort(e.code if isinstance(e.code, int) else 1,
                                 "stopping on the error above: aborting every process")
        raise


def stderr_is_terminal():
    return sys.stderr.isatty()
