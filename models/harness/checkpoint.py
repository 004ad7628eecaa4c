"""Training checkpoints: everything a run needs to continue exactly where it stopped.

One file (``tg.save``: safetensors, written atomically, so a crash mid-save leaves the previous
checkpoint whole) holds the model's weights and its name and config (enough to rebuild it),
the identity of its data (name, checksum, vocabulary), the optimizer's state, the step, the
training seconds so far, the seed and the task's carried state (e.g. the recurrent state of
truncated BPTT). Random numbers need no saved state: ``fit`` reseeds every step from
(seed, step), so the step *is* the state of the random streams (see loop.py).

Every problem is a UsageError that names the file and what is wrong with it.
"""
import os

import tinygrad_seq as tg

from .options import UsageError

FORMAT = "tinygrad_seq.models.checkpoint"
VERSION = 1


def save(path, *, model_name, config, identity, model, optimizer, step, seconds, seed,
         task_state=None, options=None):
    tg.save({"format": FORMAT, "version": VERSION, "model_name": model_name, "config": config,
             "identity": identity, "model": model.state_dict(),
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "step": step, "seconds": seconds, "seed": seed, "task_state": task_state,
             "options": options or {}}, path)


def load(path, model_name, device="cpu"):
    """The checkpoint at ``path``, checked to be a training checkpoint of ``model_name``."""
    if not os.path.exists(path):
        raise UsageError(f"no checkpoint at {path} (train first, or pass the right --out / "
                         f"--checkpoint)")
    try:
        checkpoint = tg.load(path, device=device)
    except tg.serialization.CheckpointError as e:
        raise UsageError(f"checkpoint {path} is damaged or half-written and cannot be used ({e})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise UsageError(f"{path} is not a training checkpoint of tinygrad_seq's models (a "
                         f"tg.save file without the harness's format tag)")
    if checkpoint.get("version") != VERSION:
        raise UsageError(f"checkpoint {path} has version {checkpoint.get('version')!r}; this "
                         f"harness reads version {VERSION}")
    if checkpoint.get("model_name") != model_name:
        raise UsageError(f"checkpoint {path} is of model {checkpoint.get('model_name')!r}, not "
                         f"{model_name!r}")
    return checkpoint


def check_identity(checkpoint, path, identity, keys=None, what="this run"):
    """Refuse a checkpoint whose identity (data, vocabulary...) differs from ``identity`` on
    ``keys`` (all of them by default), naming each difference."""
    saved = checkpoint["identity"]
    differences = [f"{key}: checkpoint {_short(saved.get(key))}, {what} {_short(identity.get(key))}"
                   for key in (keys or identity) if saved.get(key) != identity.get(key)]
    if differences:
        raise UsageError(f"checkpoint {path} was trained on other data than {what}: "
                         + "; ".join(differences))


def check_config(checkpoint, path, config):
    """Refuse to resume with a model config other than the checkpoint's, naming the options."""
    saved = checkpoint["config"]
    differences = [f"{key}={saved.get(key)!r} in the checkpoint, {value!r} asked for"
                   for key, value in config.items() if saved.get(key) != value]
    if differences:
        raise UsageError(f"cannot resume {path} with another model: " + "; ".join(differences)
                         + " (drop those options, or start a new run in another --out)")


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
