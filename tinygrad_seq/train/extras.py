"""The trainer's optional packages (the ``train`` extra: tqdm, matplotlib), imported when used.

``import tinygrad_seq`` never imports them, nor this package; a run that needs one that is not
installed stops with an error naming the package and the extra that brings it:

>>> pyplot()  # doctest: +SKIP
ImportError: plotting metrics needs matplotlib, which is not installed: pip install "tinygrad_seq[train]"
"""
import importlib

INSTALL = 'pip install "tinygrad_seq[train]"'


def need(module, purpose):
    """Import ``module`` by name, or raise an ImportError saying what needs it and how to get it.

    >>> need("json", "reading logs").__name__
    'json'
    >>> need("no_such_package_here", "testing")
    Traceback (most recent call last):
    ImportError: testing needs no_such_package_here, which is not installed: pip install "tinygrad_seq[train]"
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module.split(".")[0]:  # the package is there, something inside it is not
            raise
        raise ImportError(f"{purpose} needs {e.name}, which is not installed: {INSTALL}") from None


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    matplotlib = need("matplotlib", "plotting metrics")
    matplotlib.use("Agg")
    return need("matplotlib.pyplot", "plotting metrics")


def tqdm():
    """tqdm's progress bar class."""
    return need("tqdm", "the progress bar").tqdm
