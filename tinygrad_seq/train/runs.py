"""A run's folder is its own: one run at a time holds it, a trained run in it is only continued
(``--resume``) or replaced on request (``--overwrite``), and nothing is written through a symbolic
link planted in it.

The lock is a file ``.lock`` in the folder holding ``pid host``. It is created with
``O_CREAT | O_EXCL`` (two runs cannot both create it) and, on POSIX, held with ``flock`` while the
run lives: the kernel drops that hold when the process dies however it dies (SIGKILL, the OOM
killer), so a lock whose hold is free is a dead run's and is taken over in place; a lock held
by a live run is refused with its pid and host.

>>> import tempfile
>>> folder = tempfile.mkdtemp()
>>> lock = RunLock(folder)
>>> RunLock(folder)
Traceback (most recent call last):
...
tinygrad_seq.train.errors.UsageError: ... is in use by another run ...
>>> lock.release()
>>> RunLock(folder).release()
"""
import os
import socket

from .errors import UsageError

try:
    import fcntl
except ImportError:  # not on Windows: the pid in the file is all there is
    fcntl = None

LOCK_NAME = ".lock"


def refuse_symlinks(*paths):
    """A run writes its own files, never the target of a link someone placed in its folder."""
    for path in paths:
        if os.path.islink(path):
            raise UsageError(f"{path} is a symbolic link (to {os.readlink(path)}): refusing to "
                             f"write through it; remove it or choose another --out")


def describe_os_error(error):
    return error.strerror or str(error)


class RunLock:
    """Holds ``folder`` (created if missing) for this process until ``release()``; refuses, naming
    the holder, when a live run holds it."""

    def __init__(self, folder):
        self.folder, self.path, self.fd = folder, os.path.join(folder, LOCK_NAME), None
        self.created = _missing_folders(folder)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create the run folder {folder}: {describe_os_error(e)}") from None
        refuse_symlinks(self.path)
        for _ in range(20):  # each pass loses only to a run that starts or stops meanwhile
            if self._create() or self._take_over():
                return
        raise UsageError(f"cannot lock {self.path}: runs keep taking and leaving it")

    def _create(self):
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                         0o644)
        except FileExistsError:
            return False
        except OSError as e:
            self._forget_folder()
            raise UsageError(f"cannot write in the run folder {self.folder} ({self.path}): "
                             f"{describe_os_error(e)}") from None
        if self._hold(fd) != "held":  # a stale-lock taker grabbed it first: start over
            return False
        self._write_owner()
        return True

    def _take_over(self):
        try:
            fd = os.open(self.path, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            return False  # released meanwhile: create it afresh
        except OSError as e:
            raise UsageError(f"cannot open the lock {self.path}: {describe_os_error(e)}") from None
        owner = os.pread(fd, 256, 0).decode("utf-8", "replace").split()
        pid, host = (owner + ["?", "?"])[:2]
        if fcntl is None:
            held = host != socket.gethostname() or not pid.isdigit() or _process_alive(int(pid))
            if held:
                os.close(fd)
            else:
                self.fd = fd
        else:
            outcome = self._hold(fd)
            if outcome == "replaced":
                return False
            held = outcome == "busy"
        if held:
            raise UsageError(f"{self.folder} is in use by another run (pid {pid} on host {host}, "
                             f"lock {self.path}); wait for it to end or choose another --out")
        if host not in ("?", socket.gethostname()):
            self.release(unlink=False)
            raise UsageError(f"{self.folder} is locked by pid {pid} on host {host} ({self.path}); "
                             f"if that run has ended, delete the lock file")
        self._write_owner()  # the dead run's lock, now ours
        return True

    def _hold(self, fd):
        """Take the kernel's hold on ``fd``: "held" (now ours), "busy" (another process has it) or
        "replaced" (its holder released the file between our open and our hold); fd is closed
        unless held."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return "busy"
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path, follow_symlinks=False).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                return "replaced"
        self.fd = fd
        return "held"

    def _write_owner(self):
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)

    def release(self, unlink=True):
        """Give the folder back (idempotent); the lock file goes first, then the hold."""
        if self.fd is None:
            return
        if unlink:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        os.close(self.fd)
        self.fd = None
        self._forget_folder()

    def _forget_folder(self):
        """A folder this lock created and nothing else used goes again: bad input leaves nothing."""
        for folder in self.created:  # the deepest first
            try:
                os.rmdir(folder)
            except OSError:
                return  # not empty: the run wrote into it
        self.created = []


class NoLock:
    """Ranks > 0 of --distributed: rank 0 holds the folder for the job."""

    def release(self, unlink=True):
        pass


def _missing_folders(folder):
    """The folders that creating ``folder`` would create, the deepest first."""
    missing, folder = [], os.path.abspath(folder)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True
    return True
