"""Loops over sequences: ``tg.scan`` and its compiled engine (record a step, replay it)."""
from .record import Untraceable
from .run import ENGINES, ScanFallbackWarning, scan
from .explain import explain

__all__ = ["scan", "explain", "ENGINES", "ScanFallbackWarning", "Untraceable"]
