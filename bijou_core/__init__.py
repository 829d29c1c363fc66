"""bijou: a small language model as an on-device voice-command engine for wearables."""

from .plugin_api import HOOK_API, BijouError, DeviceSimulator, DeviceSpec, EvalRules, hookimpl

__version__ = "0.1.0"

__all__ = ["HOOK_API", "BijouError", "DeviceSimulator", "DeviceSpec", "EvalRules", "hookimpl", "__version__"]
