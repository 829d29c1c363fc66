"""bijou device plugin: Ray-Ban Stories."""

from bijou_core.plugin_api import DeviceSpec, hookimpl

from .simulator import RayBanStoriesSimulator

__version__ = "0.1.0"
BIJOU_HOOK_API = 2


@hookimpl
def register_devices(register):
    register(DeviceSpec.from_package(__name__, runtime=RayBanStoriesSimulator))
