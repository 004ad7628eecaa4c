"""The command-line options every model shares (budgets, seed, device, evaluation, output), and
the one error type a model's CLI turns into a clean message.

The default time budget is the model's own (``resolve``'s defaults) unless the environment sets
``TINYGRAD_SEQ_MINUTES``: CI exports it to run the README's main job, unchanged, in less time.
An explicit ``--minutes`` wins over both.
"""
import argparse
import os
import sys
import tempfile

import tinygrad_seq as tg

MINUTES_ENV = "TINYGRAD_SEQ_MINUTES"


class UsageError(Exception):
    """Bad input from the command line (options, data, checkpoint): the message names what was
    wrong and ``run_command`` prints it without a traceback."""


def positive_float(text):
    value = float(text)
    if not value > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def probability(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {text}")
    return value


def non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


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
    group.add_argument("--seed", type=int, default=0)
    group.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate")
    group.add_argument("--clip", type=non_negative_float, default=None,
                       help="clip the gradient norm at this value (0: no clipping)")
    group.add_argument("--eval-every", type=positive_int, default=None, metavar="STEPS",
                       help="evaluate (and checkpoint) every this many steps...")
    group.add_argument("--eval-seconds", type=positive_float, default=None, metavar="SECONDS",
                       help="...or after this many seconds, whichever comes first")
    group.add_argument("--out", default=None,
                       help="directory of the checkpoint, metrics log and plot (--smoke: a new "
                            "temporary folder)")
    group.add_argument("--resume", action="store_true",
                       help="continue from the checkpoint in --out exactly where it stopped")
    group.add_argument("--overwrite", action="store_true",
                       help="replace the run in --out (its checkpoint, log and plot stay until "
                            "the new run writes its first checkpoint); without it a folder "
                            "holding a checkpoint is refused")
    group.add_argument("--init-from", default=None, metavar="FILE",
                       help="start from these initial weights (safetensors, PyTorch's names and "
                            "layout, e.g. a PyTorch twin's --save-init) instead of --seed's draw")
    group.add_argument("--save-init", default=None, metavar="FILE",
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
    return smoke_folder(args)


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


def run_command(parser, argv=None):
    """Parse ``argv`` and call the chosen sub-command's ``func(args)``; a UsageError ends the
    program with its message and exit status 2, as argparse's own errors do."""
    args = parser.parse_args(argv)
    try:
        try:
            return args.func(args)
        except UsageError as e:
            parser.exit(2, f"{parser.prog}: error: {e}\n")
        finally:
            _remove_unused_smoke_folder(args)
    except SystemExit as e:  # under mpiexec the other processes must not wait for this one
        if e.code not in (None, 0) and tg.distributed.world_size() > 1:
            tg.distributed.abort(e.code if isinstance(e.code, int) else 1,
                                 "stopping on the error above: aborting every process")
        raise


def stderr_is_terminal():
    return sys.stderr.isatty()
