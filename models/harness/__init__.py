"""The one training harness of every model in models/: options, loop, checkpoints, metrics.

A model file builds its module and a *task* (its loss, batches and evaluation; see loop.py)
and hands the task to ``fit``; everything else lives here once.
"""
from .options import (UsageError, add_train_options, add_device_option, resolve,
                      use_device, run_command, exit_cleanly, MINUTES_ENV)
from .arguments import (ArgumentParser, existing_file, file_stem, finite_float,
                        non_negative_float, non_negative_int, output_file, output_folder,
                        positive_float, positive_int, probability)
from .loop import fit, step_random, EpochBatches, RunPaths, Task
from . import checkpoint, metrics
