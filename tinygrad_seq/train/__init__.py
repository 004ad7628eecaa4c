"""The trainer: a task protocol, the loop, evaluation, checkpoints, exact resume, metrics.

A model file builds its module and a *task* (its loss, batches and evaluation; see
:class:`Task`) and hands the task to :func:`fit`; everything else lives here once: the command
line's options, the evaluation schedule, atomic checkpoints and exact ``--resume``,
``metrics.jsonl`` and its plots, the progress bar, ``--distributed``, the run folder's lock.
Every model of the repository's ``models/`` trains with it, and so can a user's own
(docs/training.md). The progress bar and the plots need the ``train`` extra (tqdm,
matplotlib), imported only when used; ``import tinygrad_seq`` does not import this package.
"""
from .options import (UsageError, add_train_options, add_device_option, resolve,
                      use_device, run_command, exit_cleanly, MINUTES_ENV)
from .arguments import (ArgumentParser, existing_file, file_stem, finite_float,
                        non_negative_float, non_negative_int, output_file, output_folder,
                        positive_float, positive_int, probability)
from .batches import step_random, EpochBatches, bucketed_epoch
from .loop import fit, RunPaths, Task
from .checkpoint import load_model, load_run
from . import checkpoint, metrics
