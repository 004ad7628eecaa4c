"""The command lines' parser and the types of their values: a bad value is refused while the
command line is read, before any data is loaded or any file written, in one line that names the
option, what it must be and what was given.

>>> parser = ArgumentParser(prog="demo")
>>> _ = parser.add_argument("--seed", type=non_negative_int, default=0)
>>> parser.parse_args(["--seed", "3"]).seed
3
>>> non_negative_int("-1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be an integer >= 0, got '-1'
>>> positive_float("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be a number > 0 and finite, got 'nan'
"""
import argparse
import math
import os
import tempfile


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose errors are one line, ``PROG: error: MESSAGE (--help lists the
    options)``, exit status 2: the usage block argparse prints first (a dozen lines for a
    training command) would bury the line that says what was wrong. Sub-commands made with
    ``add_subparsers`` are of this class too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def _number(text, kind, test, wanted):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        value = None
    # NaN fails every comparison and inf is no budget, rate or count: both are refused
    if value is None or (kind is float and not math.isfinite(value)) or not test(value):
        raise argparse.ArgumentTypeError(f"must be {wanted}, got {text!r}")
    return value


def positive_int(text):
    return _number(text, int, lambda v: v >= 1, "an integer >= 1")


def non_negative_int(text):
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def positive_float(text):
    return _number(text, float, lambda v: v > 0, "a number > 0 and finite")


def non_negative_float(text):
    return _number(text, float, lambda v: v >= 0, "a number >= 0 and finite")


def probability(text):
    return _number(text, float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def finite_float(text):
    return _number(text, float, lambda v: True, "a finite number")


def file_stem(text):
    """A name for files inside the output folder: no folder part, so nothing lands outside it."""
    if not text or text in (".", "..") or "/" in text or os.sep in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"must be a plain file name without a folder, got {text!r}")
    return text


def existing_file(text):
    """A file to read: it exists and is a regular file (not a folder, FIFO or device)."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text} is not a regular file")
    return text


def output_folder(text):
    """A folder to write into: an existing, writable folder, or one that can be created. Whether
    it can be created is tried (a folder of a new name is made beside where the first missing
    one would go, and removed again), since only trying tells: a superuser passes ``os.access``
    on /proc, where nothing can be created."""
    if not text:
        raise argparse.ArgumentTypeError("must name a folder, got ''")
    if os.path.lexists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    _check_can_write_in(text, text)
    return text


def output_file(text):
    """A file to write (a plot): not a folder, in a folder that exists and is writable."""
    if not text or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text}: the folder {parent} is not writable")
    return text


def output_file_in_new_folders(text):
    """A file to write whose missing folders the writer creates: not a folder, in a folder that
    exists or can be created (``output_folder``)."""
    if not text or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    _check_can_write_in(os.path.dirname(os.path.abspath(text)), text)
    return text


def _check_can_write_in(folder, given):
    folder, first_missing = os.path.abspath(folder), None
    while not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise argparse.ArgumentTypeError(f"{given}: {folder} is a file, not a folder")
        folder, first_missing = os.path.dirname(folder), folder
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{given}: the folder {folder} is not writable")
    if first_missing is not None:
        try:  # a name of its own: another process making the real folder meanwhile is unharmed
            os.rmdir(tempfile.mkdtemp(prefix=".can-create-", dir=folder))
        except OSError as e:
            raise argparse.ArgumentTypeError(f"cannot create the folder {given}: "
                                             f"{e.strerror or e}") from None
