"""Train mode: one global switch that every dropout obeys (``Module.train()`` / ``.eval()``).

Seed 002's DropoutWrapper kept dropping at prediction time because it had no such switch; here
evaluation is one call away and every dropout in every model sees it.
"""
_training = True


def is_training():
    """True in train mode (the default), False after ``model.eval()``."""
    return _training


def set_training(mode):
    """Switch train mode on or off for every module; returns the previous mode."""
    global _training
    previous, _training = _training, bool(mode)
    return previous
