"""Jingyun (精运): the refined-operations platform."""

__version__ = "0.1.0"
