"""Devices, array modules, dtypes and the random number generators.

A device is a string: ``"cpu"`` (NumPy) or ``"cuda:N"`` (CuPy, imported the first time a CUDA
tensor is made). Everything else in the package asks this module for the array module (``xp``)
of a device instead of guessing from array types.
"""
import contextlib
import os

import numpy as np

CUDA_INSTALL_HINT = ('pip install "tinygrad_seq[cuda12]" (CUDA 12) or '
                     'pip install "tinygrad_seq[cuda13]" (CUDA 13)')

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

DEFAULT_FLOAT = float32
DEFAULT_INT = int64


class Device:
    """One place arrays can live: its name, its array module and how to make it current."""

    __slots__ = ("name", "xp", "index", "array_type")

    def __init__(self, name, xp, index=None):
        self.name, self.xp, self.index = name, xp, index
        self.array_type = xp.ndarray

    def activate(self):
        """A context in which the array module's calls run on this device: new arrays are
        allocated there, and kernels on its arrays may run (CuPy refuses a kernel on an array
        of another GPU than the current one). A fresh context each time: CuPy's Device keeps
        the devices its ``with`` replaced on the instance, so one shared by two threads could
        restore the other thread's device."""
        if self.index is None:
            return _ON_THE_HOST
        return self.xp.cuda.Device(self.index)

    def __repr__(self):
        return f"Device({self.name!r})"


_ON_THE_HOST = contextlib.nullcontext()  # holds no state: one serves every thread
_devices = {"cpu": Device("cpu", np)}
_cupy = None


def _import_cupy():
    global _cupy
    if _cupy is None:
        try:
            import cupy
        except ImportError as e:
            raise RuntimeError(
                f"device 'cuda' needs CuPy, which is not installed ({e}); install it with "
                f"{CUDA_INSTALL_HINT}") from None
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # CuPy raises its own CUDARuntimeError without a driver
            raise RuntimeError(f"device 'cuda' is not usable: CuPy found no working GPU ({e})") from None
        if count == 0:
            raise RuntimeError("device 'cuda' is not usable: CuPy found no GPU")
        _cupy = cupy
    return _cupy


def cuda_module():
    """The array module of the CUDA devices (CuPy), imported on first use."""
    return _import_cupy()


def _use_cuda_module(module):
    """Run the CUDA devices on ``module``, an array module with CuPy's interface (the tests'
    strict stand-in for CuPy on a machine without a GPU); None goes back to CuPy. The CUDA
    devices and their random streams made so far are forgotten."""
    global _cupy
    _cupy = module
    for name in [name for name in _devices if name != "cpu"]:
        del _devices[name]
        _generators.pop(name, None)


def cpu_loops(xp, dtype):
    """The module of compiled CPU loops (``cpu_loops.py``: tanh, sigmoid and the fused
    kernels' steps, Numba) for arrays of ``xp`` and ``dtype``, or None where they run as array
    operations: ``xp`` is not NumPy, the dtype is not float32 or float64 (Numba has no float16),
    Numba is not installed, or ``TINYGRAD_SEQ_CPU_LOOPS=0``. Imported on first use, not with
    the package (Numba takes a fifth of a second to import)."""
    if (xp is not np or dtype not in (float32, float64)
            or os.environ.get("TINYGRAD_SEQ_CPU_LOOPS", "1") == "0"):
        return None
    try:
        from . import cpu_loops as module
    except ImportError:
        return None
    return module


def canonical_device(device):
    """'cpu' -> 'cpu'; 'cuda' -> 'cuda:0'; 'cuda:1' -> 'cuda:1'; anything else is an error."""
    if device is None:
        return "cpu"
    if isinstance(device, Device):
        return device.name
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0', got {type(device).__name__}")
    if device in _devices:
        return device
    if device == "cuda":
        return "cuda:0"
    if device.startswith("cuda:") and device[5:].isdigit():
        return f"cuda:{int(device[5:])}"
    raise ValueError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N' (N a GPU index)")


def get_device(device):
    """The Device for a device string, importing CuPy on the first CUDA request."""
    name = canonical_device(device)
    dev = _devices.get(name)
    if dev is None:
        cupy = _import_cupy()
        index = int(name[5:])
        count = cupy.cuda.runtime.getDeviceCount()
        if index >= count:
            raise ValueError(f"device {name!r} does not exist: this machine has {count} GPU(s), "
                             f"'cuda:0' to 'cuda:{count - 1}'")
        dev = _devices[name] = Device(name, cupy, index)
    return dev


def xp_of(device):
    return get_device(device).xp


def on(device):
    """The device guard, as PyTorch's: within it, array-module calls on arrays of ``device`` (a
    name, as ``Tensor.device``) run on that device. Every array-module call on a tensor's data
    runs inside one: ``Function.apply`` and the backward walk put each op in its inputs' guard,
    and code that works on raw arrays outside an op (a check of values before an op, an
    initialiser, a collective) takes the guard of the tensors it reads. CuPy runs a kernel only
    on the current GPU's arrays and allocates there, so without the guard an array of
    ``cuda:1`` fails (or, with peer access, is silently copied to GPU 0). Nothing to do on the
    CPU, where it costs one comparison.

    >>> import tinygrad_seq as tg
    >>> x = tg.ones(3)
    >>> with tg.backend.on(x.device):
    ...     bool((x.data > 0).all())
    True
    """
    if device == "cpu":
        return _ON_THE_HOST
    return get_device(device).activate()


def cuda_available():
    """True when CuPy imports and sees at least one GPU; never raises."""
    try:
        _import_cupy()
        return True
    except RuntimeError:
        return False


def device_of_array(array):
    """'cuda:N' for a CuPy array, 'cpu' for anything else."""
    if type(array).__module__.startswith("cupy") or (
            _cupy is not None and isinstance(array, _cupy.ndarray)):
        return f"cuda:{array.device.id}"
    return "cpu"


# ---------------------------------------------------------------- dtypes

def canonical_dtype(dtype):
    """A NumPy dtype for float, integer and bool dtypes; a clear error for anything else."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.kind not in "fiub":
        raise TypeError(f"dtype {dtype!r} is not a numeric dtype: expected a float, integer or "
                        f"bool dtype such as 'float32', 'float64', 'int64' or 'bool'")
    return dt


# ---------------------------------------------------------------- random numbers

class _Generator:
    """Uniform and normal draws on one device, from a seedable stream."""

    def __init__(self, device, seed):
        self.device = device
        self.seed(seed)

    def seed(self, seed):
        if self.device.xp is np:
            self._rng = np.random.default_rng(seed)
        else:
            with self.device.activate():
                self._rng = self.device.xp.random.RandomState(seed)

    def uniform(self, shape, dtype):
        if self.device.xp is np:
            return self._rng.random(shape, dtype=dtype)
        with self.device.activate():
            return self._rng.random_sample(shape, dtype=dtype)

    def normal(self, shape, dtype):
        if self.device.xp is np:
            return self._rng.standard_normal(shape, dtype=dtype)
        with self.device.activate():
            return self._rng.standard_normal(shape, dtype=dtype)

    def integers(self, low, high, shape):
        """int64 draws from [low, high)."""
        if self.device.xp is np:
            return self._rng.integers(low, high, size=shape, dtype=np.int64)
        with self.device.activate():
            return self._rng.randint(low, high, size=shape, dtype=np.int64)


_generators = {}
_seed = None


def generator(device):
    """The random stream of a device (made on first use, from the last manual_seed)."""
    dev = get_device(device)
    gen = _generators.get(dev.name)
    if gen is None:
        gen = _generators[dev.name] = _Generator(dev, _seed)
    return gen


def manual_seed(seed):
    """Seed the random stream of every device, now and for devices first used later.

    >>> import tinygrad_seq as tg
    >>> tg.manual_seed(0); a = tg.rand(3); tg.manual_seed(0); b = tg.rand(3)
    >>> bool((a == b).all())
    True
    """
    global _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _seed = int(seed)
    for gen in _generators.values():
        gen.seed(_seed)


# ---------------------------------------------------------------- CPU threads

def set_num_threads(n):
    """Let the BLAS library (matrix products on the CPU) use ``n`` threads, as PyTorch's
    ``set_num_threads``: ``OPENBLAS_NUM_THREADS`` and its kin, but at run time and without
    knowing which BLAS NumPy was built with (threadpoolctl finds it). Other processes on a shared
    machine run faster when each one keeps to its share of the cores.

    >>> import tinygrad_seq as tg
    >>> before = tg.get_num_threads()
    >>> tg.set_num_threads(1); tg.get_num_threads()
    1
    >>> tg.set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"set_num_threads: the number of threads must be a positive integer, "
                        f"got {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: the number of threads must be at least 1, got {n}")
    from threadpoolctl import threadpool_limits
    _blas_libraries()  # a clear error when there is none to limit
    threadpool_limits(limits=int(n), user_api="blas")  # stays set: it is not used as a context


def get_num_threads():
    """The number of threads the BLAS library uses (the largest, if several are loaded)."""
    return max(library["num_threads"] for library in _blas_libraries())


def _blas_libraries():
    from threadpoolctl import threadpool_info
    libraries = [library for library in threadpool_info() if library["user_api"] == "blas"]
    if not libraries:
        raise RuntimeError("no BLAS library whose threads can be set is loaded (threadpoolctl "
                           "found none)")
    return libraries
