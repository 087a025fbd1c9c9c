"""Shared core of the ABAW valence/arousal toolkit: Aff-Wild2 layout, exchange tables, metrics, training."""

__version__ = "0.1.0"
