"""bijou device plugin: a smart ring, written only against bijou's public plugin API."""

from bijou_core.plugin_api import DeviceSpec, hookimpl

from .simulator import SmartRingSimulator

__version__ = "0.1.0"
BIJOU_HOOK_API = 2


@hookimpl
def register_devices(register):
    register(DeviceSpec.from_package(__name__, runtime=SmartRingSimulator))
