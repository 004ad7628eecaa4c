"""``cupy.cuda`` of the stand-in: the current device (per thread), ``Device``, the streams, the
runtime's device count; ``nccl`` only where a test sets a fake one."""
import threading
import types

DEVICE_COUNT = 2


class _Thread(threading.local):
    device = 0


_thread = _Thread()


class CUDARuntimeError(RuntimeError):
    pass


class Device:
    """``cupy.cuda.Device``: ``with Device(1):`` makes device 1 current in this thread. As
    CuPy's, the instance keeps the stack of the devices its ``with`` blocks replaced."""

    def __init__(self, device=None):
        device = _thread.device if device is None else int(device)
        if not 0 <= device < DEVICE_COUNT:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.id = device
        self._device_stack = []

    def __enter__(self):
        self._device_stack.append(_thread.device)
        _thread.device = self.id
        return self

    def __exit__(self, *exc):
        _thread.device = self._device_stack.pop()

    def use(self):
        _thread.device = self.id

    def synchronize(self):
        pass

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id}>"


class Stream:
    """A device's null stream: work here is synchronous, so there is nothing to wait for."""

    def __init__(self, device_id):
        self.device_id, self.ptr = device_id, 0

    def synchronize(self):
        pass


_streams = [Stream(i) for i in range(DEVICE_COUNT)]


def _get_device():
    return _thread.device




def _set_device(device):
    Device(device).use()


def get_current_stream():
    return _streams[_thread.device]


def is_available():
    return True


runtime = types.SimpleNamespace(getDeviceCount=lambda: DEVICE_COUNT, getDevice=_get_device,
                                setDevice=_set_device, CUDARuntimeError=CUDARuntimeError)
