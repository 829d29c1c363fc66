"""bijou: a small language model as an on-device voice-command engine for wearables."""

from .errors import BijouError
from .hookspecs import HOOK_API, hookimpl
from .rules import EvalRules
from .runtime.simulator import DeviceSimulator

__version__ = "0.1.0"

__all__ = ["HOOK_API", "BijouError", "DeviceSimulator", "EvalRules", "hookimpl", "__version__"]
