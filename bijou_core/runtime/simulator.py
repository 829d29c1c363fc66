"""The simulator base class, kept at its hook API 1 import path (it lives in ``bijou_core.simulator``)."""

from ..simulator import DeviceSimulator

__all__ = ["DeviceSimulator"]
