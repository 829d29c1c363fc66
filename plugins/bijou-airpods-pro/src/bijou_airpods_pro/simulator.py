"""A deterministic simulator of a pair of AirPods Pro connected to a phone.

Volume is in percent; one ``adjust_volume`` step is ``VOLUME_STEP`` (10) points, clamped to 0..100.
Battery levels and the playlist are fixed fake data, so runs are reproducible.
"""

from __future__ import annotations

from typing import Any

from bijou_core import DeviceSimulator

VOLUME_STEP = 10
PLAYLIST = ("Blinding Lights", "Levitating", "As It Was", "Flowers")


class AirPodsProSimulator(DeviceSimulator):
    """AirPods Pro: volume, listening modes, media, calls, battery and Find My."""

    # Nothing here sends data or costs money; every tool runs without confirmation.
    confirm = frozenset()

    def initial_state(self) -> dict[str, Any]:
        return {
            "volume": 50,
            "noise_control": "noise_cancellation",
            "conversation_awareness": True,
            "spatial_audio": "head_tracked",
            "announce_notifications": False,
            "media": {"playing": False, "track_index": 0, "track": PLAYLIST[0]},
            "call": {"status": "incoming", "caller": "Alex", "muted": False},
            "battery": {"left": 82, "right": 78, "case": 64},
            "find_my": {"playing_sound_on": None},
        }

    # -- volume -------------------------------------------------------------------------------

    def set_volume(self, level: int) -> dict[str, Any]:
        self.state["volume"] = max(0, min(100, int(level)))
        return {"ok": True, "volume": self.state["volume"]}

    def adjust_volume(self, direction: str, steps: int = 1) -> dict[str, Any]:
        delta = VOLUME_STEP * int(steps) * (1 if direction == "up" else -1)
        before = self.state["volume"]
        self.state["volume"] = max(0, min(100, before + delta))
        after = self.state["volume"]
        return {"ok": True, "volume": after, "changed_by": after - before}

    # -- listening modes ----------------------------------------------------------------------

    def set_noise_control(self, mode: str) -> dict[str, Any]:
        self.state["noise_control"] = mode
        return {"ok": True, "noise_control": mode}

    def set_conversation_awareness(self, enabled: bool) -> dict[str, Any]:
        self.state["conversation_awareness"] = bool(enabled)
        return {"ok": True, "conversation_awareness": bool(enabled)}

    def set_spatial_audio(self, mode: str) -> dict[str, Any]:
        self.state["spatial_audio"] = mode
        return {"ok": True, "spatial_audio": mode}

    def announce_notifications(self, enabled: bool) -> dict[str, Any]:
        self.state["announce_notifications"] = bool(enabled)
        return {"ok": True, "announce_notifications": bool(enabled)}

    # -- media --------------------------------------------------------------------------------

    def media_control(self, action: str) -> dict[str, Any]:
        media = self.state["media"]
        if action == "play":
            media["playing"] = True
        elif action == "pause":
            media["playing"] = False
        elif action == "next_track":
            media["track_index"] = (media["track_index"] + 1) % len(PLAYLIST)
            media["playing"] = True
        elif action == "previous_track":
            media["track_index"] = max(0, media["track_index"] - 1)
            media["playing"] = True
        media["track"] = PLAYLIST[media["track_index"]]
        return {"ok": True, "playing": media["playing"], "track": media["track"]}

    # -- calls --------------------------------------------------------------------------------

    def call_control(self, action: str) -> dict[str, Any]:
        call = self.state["call"]
        status = call["status"]
        allowed = {
            "answer": ("incoming",),
            "decline": ("incoming",),
            "end": ("active",),
            "mute": ("active",),
            "unmute": ("active",),
        }
        if status not in allowed[action]:
            return {"ok": False, "error": f"cannot {action}: call is {status}", "call": dict(call)}
        if action == "answer":
            call["status"] = "active"
        elif action in ("decline", "end"):
            call.update(status="none", caller=None, muted=False)
        else:
            call["muted"] = action == "mute"
        return {"ok": True, "call": dict(call)}

    # -- battery and Find My -------------------------------------------------------------------

    def get_battery_level(self, component: str = "all") -> dict[str, Any]:
        battery = self.state["battery"]
        levels = dict(battery) if component == "all" else {component: battery[component]}
        return {"ok": True, "battery": levels}

    def find_my_airpods(self, play_sound_on: str = "both") -> dict[str, Any]:
        buds = ["left", "right"] if play_sound_on == "both" else [play_sound_on]
        self.state["find_my"]["playing_sound_on"] = play_sound_on
        if self.state["media"]["playing"]:
            self.state["media"]["playing"] = False  # the chime interrupts playback
        return {"ok": True, "playing_sound_on": buds}
