"""The metrics log (JSON lines) and the plot of its curves, shared by every model and by the
PyTorch twins in benchmarks/ so that runs of both engines plot side by side.

A log has three kinds of line, each a JSON object:

    {"kind": "run", "engine": "tinygrad_seq", "model": "charlm", "step": 0, ...}   each start
    {"kind": "train", "step": 12, "seconds": 9.81, "loss": 2.913, "rate": 1402.5}  each step
    {"kind": "eval", "step": 12, "seconds": 9.81, "val_loss": 2.87, "load": 1.9, ...}

``step`` counts optimizer steps, ``seconds`` the wall-clock seconds spent in training steps
(evaluation and checkpoints excluded, continued across --resume), ``loss`` is that step's
training loss, ``rate`` its units (characters, samples) per second, ``load`` the 1-minute load
average of the machine at evaluation time.

Plot a log, or several side by side (``--metric bleu``: another metric of the evaluations):

    python -m tinygrad_seq.train runs/charlm-stdlib/metrics.jsonl runs/torch/metrics.jsonl \
        -o both.png
"""
import json
import os
import tempfile

from . import extras


class MetricsLog:
    """Appends records to ``path``; on resume, drops what a crashed run logged past ``step``.

    The log is written to a temporary file beside ``path`` that replaces it atomically (so a
    failure while rewriting it on resume cannot lose the records kept): at once, or with
    ``pending=True`` only on ``commit()`` (the harness commits a new run's log with its first
    checkpoint, so a run that fails before that leaves the folder's old log as it was).
    A symbolic link at ``path`` is refused; a write that fails raises an OSError naming ``path``.
    """

    def __init__(self, path, resume_step=None, pending=False):
        self.path = path
        if os.path.islink(path):
            raise OSError(f"{path} is a symbolic link (to {os.readlink(path)}): refusing to "
                          f"write through it")
        records = read(path) if resume_step is not None and os.path.exists(path) else []
        self._temp, self._file = _temporary_beside(path, ".jsonl", "w", encoding="utf-8")
        try:
            for record in records:
                if record.get("step", 0) <= resume_step:
                    self._file.write(json.dumps(record) + "\n")
            self._file.flush()
            if not pending:
                self.commit()
        except BaseException as e:
            self._discard()
            if isinstance(e, OSError):
                raise _naming(e, path, "write") from None
            raise

    def commit(self):
        """Make the log written so far ``path`` (atomically); later records follow it there."""
        if self._temp is None:
            return
        try:
            os.fsync(self._file.fileno())
            os.replace(self._temp, self.path)
        except OSError as e:
            raise _naming(e, self.path, "write") from None
        self._temp = None

    def write(self, record):
        try:
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
        except OSError as e:
            raise _naming(e, self.path, "write") from None

    def close(self):
        """Close the log; one never committed is discarded (``path`` stays as it was)."""
        if self._temp is not None:
            self._discard()
            return
        try:
            self._file.close()
        except OSError as e:
            raise _naming(e, self.path, "write") from None

    def _discard(self):
        try:
            self._file.close()
        except OSError:
            pass
        if self._temp is not None:
            try:
                os.unlink(self._temp)
            except FileNotFoundError:
                pass
            self._temp = None


def _temporary_beside(path, suffix, mode, **open_args):
    """A new file of a unique name (O_EXCL: never through a planted link) in ``path``'s folder,
    with the permissions a plain open() would give: (its name, the open file)."""
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp" + suffix, dir=folder)
    except OSError as e:
        raise _naming(e, path, "write") from None
    umask = os.umask(0)  # the only portable way to read the umask is to set it and put it back
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    return temp, os.fdopen(fd, mode, **open_args)


def _naming(error, path, verb):
    """The OSError ``error`` with a message that names ``path`` (not a temporary file)."""
    message = f"cannot {verb} {path}: {error.strerror or error}"
    return type(error)(error.errno, message) if error.errno else OSError(message)


def read(path):
    """The records of a log. A last line that is not JSON is dropped: a run killed while writing
    it leaves it half-written. Any other line that is not JSON is an error (ValueError)."""
    with open(path, encoding="utf-8") as file:
        lines = [(number, line) for number, line in enumerate(file, 1) if line.strip()]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if index == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {number} is not JSON ({e}); only the last line "
                             f"may be half-written") from e
    return records


def load_average():
    """The machine's 1-minute load average, to two decimals (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return None


def cores():
    """The cores this process may run on: its CPU affinity where the OS says (a container or
    ``taskset`` may allow fewer than the machine has), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        return os.cpu_count() or 1


def busy(load, cores, own):
    """What to say when other processes leave this run less than one core, else None: the load
    average ``load`` less this run's ``own`` runnable threads (an upper bound of its share, so a
    run is never called busy for its own work) is more than ``cores`` - 1.

    >>> busy(3.1, 2, 1)
    'busy: load 3.1 on 2 cores'
    >>> busy(2.0, 2, 1) is None  # the others take one core: this run keeps the other
    True
    >>> busy(None, 2, 1) is None  # no load average on this platform: nothing is guessed
    True
    """
    if load is None or load - own <= cores - 1:
        return None
    return f"busy: load {load:g} on {cores} core{'' if cores == 1 else 's'}"


def _smooth(values, width):
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= width:
            total -= values[i - width]
        out.append(total / min(i + 1, width))
    return out


def plot(paths, out, labels=None, ylabel=None, metric="val_loss"):
    """Each log's curves against steps and against training seconds: for ``val_loss``, the
    training loss (smoothed) and the validation loss; for another metric of the evaluations
    (``exact``, ``bleu``, ``val_acc``...), that metric alone. Each log is labelled by its
    ``labels`` entry, else by its engine ("tinygrad_seq", "torch"), or by its path where two
    logs share one. ``ylabel`` defaults to the char-LM's loss, or to "held-out METRIC"."""
    plt = extras.pyplot()
    if ylabel is None:
        ylabel = "loss (nats per character)" if metric == "val_loss" else f"held-out {metric}"
    logs = [read(path) for path in paths]
    if not labels:
        labels = [next((r.get("engine", path) for r in records if r["kind"] == "run"), path)
                  for path, records in zip(paths, logs)]
        if len(set(labels)) < len(labels):
            labels = list(paths)

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for number, (records, label) in enumerate(zip(logs, labels)):
        train = [r for r in records if r["kind"] == "train"] if metric == "val_loss" else []
        evals = [r for r in records if r["kind"] == "eval" and metric in r]
        color = f"C{number}"
        if train:
            smooth = _smooth([r["loss"] for r in train], max(1, len(train) // 40))
            for axis, x in zip(axes, ("step", "seconds")):
                axis.plot([r[x] for r in train], smooth, color=color, alpha=0.45,
                          label=f"{label} train")
        if evals:
            for axis, x in zip(axes, ("step", "seconds")):
                axis.plot([r[x] for r in evals], [r[metric] for r in evals], "o-", color=color,
                          label=f"{label} validation" if metric == "val_loss" else label)
    for axis, x in zip(axes, ("steps", "training seconds")):
        axis.set_xlabel(x)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    save_figure(figure, out)


# ---------------------------------------------------------------- classifiers and images

def confusion_matrix(targets, predictions, classes):
    """``counts[i, j]``: how many examples of class ``i`` were predicted as ``j`` (int64).

    >>> confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2], 3).tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    import numpy as np
    targets, predictions = np.asarray(targets, np.int64), np.asarray(predictions, np.int64)
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (targets, predictions), 1)
    return counts


def accuracy(targets, predictions):
    """The fraction of predictions equal to their targets (NaN for none).

    >>> accuracy([0, 1, 1, 2], [0, 2, 1, 2])
    0.75
    """
    import numpy as np
    targets, predictions = np.asarray(targets), np.asarray(predictions)
    return float((targets == predictions).mean()) if targets.size else float("nan")


def plot_confusion(counts, out, title=""):
    """The confusion matrix as a PNG: true class down, predicted across, counts in the cells."""
    plt = extras.pyplot()

    classes = len(counts)
    figure, axis = plt.subplots(figsize=(1.0 + 0.45 * classes, 0.8 + 0.45 * classes))
    axis.imshow(counts, cmap="Blues")
    for i in range(classes):
        for j in range(classes):
            axis.text(j, i, str(counts[i][j]), ha="center", va="center", fontsize=7,
                      color="white" if counts[i][j] > counts.max() / 2 else "black")
    axis.set_xticks(range(classes))
    axis.set_yticks(range(classes))
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    save_figure(figure, out)


def plot_images(images, out, captions=None, columns=10, title=""):
    """Grey images (N, H, W) in [0, 1] as a grid PNG, each with its caption (if given)."""
    plt = extras.pyplot()

    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.0, rows * 1.15 + 0.4),
                                squeeze=False)
    for number, axis in enumerate(axes.flat):
        axis.axis("off")
        if number < len(images):
            axis.imshow(images[number], cmap="gray_r", vmin=0, vmax=1)
            if captions:
                axis.set_title(captions[number], fontsize=7)
    figure.suptitle(title, fontsize=9)
    save_figure(figure, out)


def save_figure(figure, out):
    """Saves ``figure`` to ``out`` (PNG) through a temporary file of a unique name, so that a
    reader never sees half a PNG and two writers never share a temporary, and closes it; a
    failed save leaves neither ``out`` changed nor the temporary. A symbolic link at ``out`` is
    refused (an OSError naming it)."""
    plt = extras.pyplot()
    temporary = None
    try:
        if os.path.islink(out):
            raise OSError(f"cannot write {out}: it is a symbolic link (to {os.readlink(out)}); "
                          f"refusing to write through it")
        temporary, file = _temporary_beside(out, ".png", "wb")
        file.close()  # matplotlib writes by name
        figure.tight_layout()
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, out)
    except OSError as e:
        if not e.errno:
            raise
        raise _naming(e, out, "write") from None
    finally:
        plt.close(figure)
        if temporary is not None:
            try:
                os.unlink(temporary)
            except FileNotFoundError:
                pass
