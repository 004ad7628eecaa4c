"""Training checkpoints: everything a run needs to continue exactly where it stopped.

One file (``tg.save``: safetensors, written atomically, so a crash mid-save leaves the previous
checkpoint whole) holds the model's weights and its name and config (enough to rebuild it),
the identity of its data (name, checksum, vocabulary), the optimizer's state, the step, the
training seconds so far, the seed and the task's carried state (e.g. the recurrent state of
truncated BPTT). Random numbers need no saved state: ``fit`` reseeds every step from
(seed, step), so the step *is* the state of the random streams (see loop.py).

A checkpoint is data from a stranger: ``load`` checks its structure (required keys, types),
``build`` checks its config against the constructor and the saved tensors (known keys, sizes no
larger than its weights could hold) before building anything, then the built model's shapes and
the weights' values (finite) before loading them. Every problem is a UsageError that names the
file and what is wrong with it.
"""
import inspect
import math
import os
import stat
import warnings

import numpy as np

import tinygrad_seq as tg

from .errors import UsageError
from .options import CHECKPOINT_NAME, use_device

FORMAT = "tinygrad_seq.models.checkpoint"
VERSION = 1


def save(path, *, model_name, config, identity, model, optimizer, step, seconds, seed,
         task_state=None, options=None):
    tg.save({"format": FORMAT, "version": VERSION, "model_name": model_name, "config": config,
             "identity": identity, "model": model.state_dict(),
             "optimizer": optimizer.state_dict() if optimizer is not None else None,
             "step": step, "seconds": seconds, "seed": seed, "task_state": task_state,
             "options": options or {}, "device": model.device}, path)


def check_device(saved, path, device):
    """Warn where a run resumes on another kind of device than the one it trained on (CPU and
    GPU): its random draws (dropout masks, sampled candidates) come from each device's own
    stream, NumPy's on the CPU and CuPy's on a GPU, so the continued run is not the one an
    uninterrupted run would have made. The weights and the optimizer continue exactly."""
    trained = saved.get("device")
    if not isinstance(trained, str):  # a checkpoint from before the device was saved
        return
    if trained.split(":")[0] != device.split(":")[0]:
        warnings.warn(f"checkpoint {path} was trained on {trained} and resumes on {device}: the "
                      f"random draws (dropout, sampling) of the two devices differ, so the run "
                      f"continues, but not as it would have on {trained}", RuntimeWarning,
                      stacklevel=2)


def load(path, model_name, device="cpu"):
    """The checkpoint at ``path``, checked to be a training checkpoint of ``model_name``."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UsageError(f"no checkpoint at {path} (train first, or pass the right --out / "
                         f"--checkpoint)") from None
    except OSError as e:
        raise UsageError(f"cannot read the checkpoint {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(mode):  # a FIFO would block open() forever
        raise UsageError(f"{path} is {_kind(mode)}, not a checkpoint file")
    try:
        checkpoint = tg.load(path, device=device)
    except OSError as e:
        raise UsageError(f"cannot read the checkpoint {path}: {e.strerror or e}") from None
    except tg.serialization.CheckpointError as e:
        raise UsageError(f"checkpoint {path} is damaged or half-written and cannot be used ({e})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise UsageError(f"{path} is not a training checkpoint of tinygrad_seq's models (a "
                         f"tg.save file without the harness's format tag)")
    if checkpoint.get("version") != VERSION:
        raise UsageError(f"checkpoint {path} has version {checkpoint.get('version')!r}; this "
                         f"harness reads version {VERSION}")
    if checkpoint.get("model_name") != model_name:
        raise UsageError(f"checkpoint {path} is of model {_short(checkpoint.get('model_name'))}, "
                         f"not {model_name!r}")
    _check_structure(checkpoint, path)
    return checkpoint


# what each entry must be: (types, a test of the value or None, what the test asks)
_ENTRIES = {
    "config": (dict, None, ""), "identity": (dict, None, ""), "model": (dict, None, ""),
    "options": (dict, None, ""), "optimizer": ((dict, type(None)), None, ""),
    "task_state": (object, None, ""),
    "step": (int, lambda v: v >= 0, ">= 0"), "seed": (int, lambda v: v >= 0, ">= 0"),
    "seconds": ((int, float), lambda v: math.isfinite(v) and v >= 0, "finite and >= 0"),
}


def _check_structure(checkpoint, path):
    for key, (types, test, wanted) in _ENTRIES.items():
        if key not in checkpoint:
            raise UsageError(f"checkpoint {path} has no {key!r} entry (not a complete training "
                             f"checkpoint)")
        value = checkpoint[key]
        if isinstance(value, bool) or not isinstance(value, types) or (test and not test(value)):
            raise UsageError(f"checkpoint {path}: its {key!r} is {_short(value)}, which is not "
                             f"{_type_names(types)}{' ' + wanted if wanted else ''}")
    for name, value in checkpoint["model"].items():
        if not isinstance(value, tg.Tensor):
            raise UsageError(f"checkpoint {path}: its weight {_short(name)} is a "
                             f"{type(value).__name__}, not a tensor")


def build(saved, path, factory):
    """The model ``factory(**config)`` of a ``load``-ed checkpoint, with its weights, in eval
    mode on the weights' device, after checking (before anything is built) that the config
    names only the factory's arguments, of the types of their defaults, with sizes no larger
    than the saved weights could hold; then that the built model's weights have the saved
    names and shapes, and that the saved ones are finite.

    >>> import tinygrad_seq as tg
    >>> saved = {"config": {"in_features": 3, "out_features": 2},
    ...          "model": tg.nn.Linear(3, 2).state_dict()}
    >>> build(saved, "memory", tg.nn.Linear).weight.shape
    (2, 3)
    >>> saved["config"]["out_features"] = 20000
    >>> build(saved, "memory", tg.nn.Linear)
    Traceback (most recent call last):
    ...
    tinygrad_seq.train.errors.UsageError: checkpoint memory: config out_features=20000 is larger ...
    """
    config, weights = saved["config"], saved["model"]
    check_config_fits(config, path, factory, weights)
    try:
        model = factory(**config)
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise UsageError(f"checkpoint {path}: its config does not build a model "
                         f"({type(e).__name__}: {_short(str(e), 160)})") from None
    check_weights(saved, path, model)
    device = next(iter(weights.values())).device if weights else "cpu"
    model = model.to(device)
    model.load_state_dict(weights)
    model.eval()
    return model


def check_config_fits(config, path, factory, weights):
    """Refuse a config that ``factory`` would not take, or that asks for sizes no weight in the
    checkpoint has: every integer must be at most the largest axis of a saved weight or the
    number of weights (a layer count), so a tiny file cannot ask for a huge model."""
    parameters = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    named = {name: p for name, p in parameters.items()
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = [key for key in config if key not in named] if not takes_any else []
    if unknown:
        raise UsageError(f"checkpoint {path}: unknown config key {_short(unknown[0])} (this "
                         f"model takes {', '.join(named)})")
    missing = [name for name, p in named.items() if p.default is p.empty and name not in config]
    if missing:
        raise UsageError(f"checkpoint {path}: its config lacks {missing[0]!r}")
    largest = max([max(w.shape, default=0) for w in weights.values() if w.size] + [len(weights)])
    for key, value in config.items():
        default = named[key].default if key in named else None
        if not _fits_type(value, default if default is not inspect.Parameter.empty else None):
            raise UsageError(f"checkpoint {path}: config {key}={_short(value)} is not of the "
                             f"type of its default ({_short(default)})")
        if isinstance(value, float) and not math.isfinite(value):
            raise UsageError(f"checkpoint {path}: config {key}={value} is not finite")
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= largest:
            raise UsageError(f"checkpoint {path}: config {key}={value} is larger than any of its "
                             f"{len(weights)} saved weights allow (at most {largest}): the config "
                             f"does not match the weights" if value > 0 else
                             f"checkpoint {path}: config {key}={value} is negative")


def _fits_type(value, default):
    if isinstance(value, bool) or isinstance(default, bool):
        return isinstance(value, bool) and (default is None or isinstance(default, bool))
    if isinstance(default, int):
        return type(value) is int
    if isinstance(default, float):
        return type(value) in (int, float)
    if isinstance(default, str):
        return isinstance(value, str)
    return value is None or type(value) in (int, float, str)


def check_weights(saved, path, model):
    """Refuse saved weights whose names or shapes differ from ``model``'s, or that are not
    finite, naming the first such weight."""
    weights, expected = saved["model"], model.state_dict()
    missing = [name for name in expected if name not in weights]
    extra = [name for name in weights if name not in expected]
    if missing or extra:
        what = (f"lacks the weight {_short(missing[0])}" if missing else
                f"has the weight {_short(extra[0])}, which the model does not")
        raise UsageError(f"checkpoint {path} {what}: its weights do not match its config")
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise UsageError(f"checkpoint {path}: weight {_short(name)} has shape "
                             f"{tuple(weights[name].shape)}, the model's config needs "
                             f"{tuple(tensor.shape)}")
    for name, tensor in weights.items():
        values = tensor.numpy()
        if values.dtype.kind in "fc" and not np.isfinite(values).all():
            raise UsageError(f"checkpoint {path}: weight {_short(name)} holds NaN or infinite "
                             f"values")


def load_model(path, model_name, factory, device="cpu", check=None):
    """(the model, the checkpoint) at ``path``: ``load`` then ``build``, both checked, then
    ``check(checkpoint, path)`` when given: the model's own checks of what its commands read
    from the checkpoint (a vocabulary, a window), raising a UsageError that names the file.

    The one loader of every trained model; ``load_run`` is its command-line form.

    >>> import os, tempfile
    >>> import tinygrad_seq as tg
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.safetensors")
    >>> save(path, model_name="linear", config={"in_features": 3, "out_features": 2},
    ...      identity={}, model=tg.nn.Linear(3, 2), optimizer=None, step=5, seconds=1.0, seed=0)
    >>> model, saved = load_model(path, "linear", tg.nn.Linear)
    >>> model.weight.shape, saved["step"], model.training
    ((2, 3), 5, False)
    >>> load_model(path, "lstm", tg.nn.LSTM)
    Traceback (most recent call last):
    ...
    tinygrad_seq.train.errors.UsageError: checkpoint ... is of model 'linear', not 'lstm'
    """
    saved = load(path, model_name, device=device)
    model = build(saved, path, factory)
    if check is not None:
        check(saved, path)
    return model, saved


def load_run(args, model_name, factory, folder, check=None):
    """``load_model`` for a command line: the checkpoint ``--checkpoint`` names, or else the one
    in the model's run ``folder``, on ``--device`` (checked by ``use_device``). Returns (the
    model, the checkpoint, its path); the model says its device (``model.device``)."""
    path = getattr(args, "checkpoint", None) or os.path.join(folder, CHECKPOINT_NAME)
    model, saved = load_model(path, model_name, factory, use_device(args), check)
    return model, saved, path


def identity_entry(saved, path, key, types=str):
    """``saved["identity"][key]``, refused by name when missing or not of ``types``."""
    value = saved["identity"].get(key)
    wants_bool = bool in (types if isinstance(types, tuple) else (types,))
    if (isinstance(value, bool) and not wants_bool) or not isinstance(value, types):
        raise UsageError(f"checkpoint {path}: its identity has no {_type_names(types)} "
                         f"{key!r} (got {_short(value)})")
    return value


def data_to_read(given, saved, path, known, option="--data"):
    """The data a command reads: ``given`` (the command line) or, when not given, the
    checkpoint's recorded data only if it is one of the ``known`` names of shipped data: a
    checkpoint never chooses a file to read."""
    if given is not None:
        return given
    recorded = saved["identity"].get("data")
    if isinstance(recorded, str) and recorded in known:
        return recorded
    raise UsageError(f"checkpoint {path} was trained on {_short(recorded)}, not shipped data: "
                     f"pass {option} to say which data to read (a checkpoint does not choose "
                     f"the files read)")


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _type_names(types):
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({"NoneType": "null", "dict": "a map", "int": "an integer",
                        "float": "a number", "str": "a string", "bool": "a true/false"}.get(t.__name__, t.__name__)
                       for t in types)


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
