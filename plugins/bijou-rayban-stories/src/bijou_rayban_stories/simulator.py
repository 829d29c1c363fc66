"""A deterministic simulator of Ray-Ban Stories smart glasses paired with a phone.

The camera does one thing at a time: a photo, a video or a livestream. Videos are at most
``MAX_VIDEO_SECONDS`` long. There is no wall clock: time passes only through ``elapse(seconds)``,
which ends timed clips (and open-ended ones at the limit) as the glasses would. Captures stay on the
glasses until ``import_media`` copies them to the phone. Volume is a percentage clamped to 0..100.
Battery levels, the playlist and the starting captures are fixed fake data, so runs are
reproducible. Errors that a user can cause (stopping a video that is not recording, starting one
while recording...) come back as ``{"ok": False, "error": ...}`` results instead of exceptions.
"""

from __future__ import annotations

from typing import Any

from bijou_core import DeviceSimulator

MAX_VIDEO_SECONDS = 60
PLAYLIST = ("Heat Waves", "Blinding Lights", "Golden Hour", "Sunflower")
#: Where a capture can be sent to a person; the other destinations are public posts.
DIRECT_DESTINATIONS = frozenset({"whatsapp", "messenger"})


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


class RayBanStoriesSimulator(DeviceSimulator):
    """Ray-Ban Stories: camera, livestreams, media playback, messages, calls, battery, import."""

    # Tools that reach other people or the public need the wearer's confirmation.
    confirm = frozenset({"send_message", "make_call", "start_livestream", "share_last_capture"})

    def initial_state(self) -> dict[str, Any]:
        return {
            "camera": {"mode": "idle", "video": None, "livestream": None},
            "clock": 0,
            "captures": [
                {"id": "IMG_0001", "type": "photo", "imported": True},
                {"id": "VID_0002", "type": "video", "seconds": 15, "imported": False},
            ],
            "volume": 50,
            "media": {"playing": False, "track_index": 0, "track": PLAYLIST[0]},
            "battery": {"glasses": 72, "case": 90},
            "outbox": [],
            "calls": [],
            "shares": [],
        }

    # -- helpers (not tools) --------------------------------------------------------------------

    @property
    def media_count(self) -> int:
        """Photos and videos stored on the glasses."""
        return len(self.state["captures"])

    def _new_capture(self, kind: str, **extra: Any) -> dict[str, Any]:
        prefix = "IMG" if kind == "photo" else "VID"
        capture = {
            "id": f"{prefix}_{self.media_count + 1:04d}",
            "type": kind,
            **extra,
            "imported": False,
        }
        self.state["captures"].append(capture)
        return capture

    def _finish_video(self, seconds: int) -> dict[str, Any]:
        self.state["camera"].update(mode="idle", video=None)
        # With no time elapsed a stopped clip still holds its first second.
        return self._new_capture("video", seconds=max(1, min(seconds, MAX_VIDEO_SECONDS)))

    def elapse(self, seconds: int) -> dict[str, Any] | None:
        """Let ``seconds`` pass; a recording that reaches its length is saved. Returns that clip."""
        self.state["clock"] += int(seconds)
        video = self.state["camera"]["video"]
        if video is None:
            return None
        limit = video["duration_seconds"] or MAX_VIDEO_SECONDS
        if self.state["clock"] - video["started_at"] >= limit:
            return self._finish_video(limit)
        return None

    def _busy(self) -> str | None:
        mode = self.state["camera"]["mode"]
        if mode == "recording":
            return "already recording a video"
        if mode == "live":
            return f"live on {self.state['camera']['livestream']}"
        return None

    # -- camera ---------------------------------------------------------------------------------

    def take_photo(self) -> dict[str, Any]:
        busy = self._busy()
        if busy:
            return _error(f"cannot take a photo: {busy}")
        photo = self._new_capture("photo")
        return {"ok": True, "capture": photo["id"], "media_count": self.media_count}

    def start_video(self, duration_seconds: int | None = None) -> dict[str, Any]:
        busy = self._busy()
        if busy:
            return _error(f"cannot start a video: {busy}")
        if duration_seconds is not None and not 1 <= duration_seconds <= MAX_VIDEO_SECONDS:
            return _error(f"a clip lasts 1 to {MAX_VIDEO_SECONDS} seconds")
        video = {"started_at": self.state["clock"], "duration_seconds": duration_seconds}
        self.state["camera"].update(mode="recording", video=video)
        return {"ok": True, "recording": True, "duration_seconds": duration_seconds}

    def stop_video(self) -> dict[str, Any]:
        video = self.state["camera"]["video"]
        if video is None:
            return _error("not recording")
        clip = self._finish_video(self.state["clock"] - video["started_at"])
        return {"ok": True, "capture": clip["id"], "media_count": self.media_count}

    def start_livestream(self, platform: str) -> dict[str, Any]:
        busy = self._busy()
        if busy:
            return _error(f"cannot go live: {busy}")
        self.state["camera"].update(mode="live", livestream=platform)
        return {"ok": True, "live_on": platform}

    def stop_livestream(self) -> dict[str, Any]:
        platform = self.state["camera"]["livestream"]
        if platform is None:
            return _error("not live")
        self.state["camera"].update(mode="idle", livestream=None)
        return {"ok": True, "ended": platform}

    # -- audio ----------------------------------------------------------------------------------

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

    def set_volume(self, level: int) -> dict[str, Any]:
        self.state["volume"] = max(0, min(100, int(level)))
        return {"ok": True, "volume": self.state["volume"]}

    # -- people ---------------------------------------------------------------------------------

    def send_message(self, contact: str, message: str, app: str | None = None) -> dict[str, Any]:
        # Without an app the phone's default messaging app sends it.
        entry = {"contact": contact, "message": message, "app": app or "default"}
        self.state["outbox"].append(entry)
        return {"ok": True, "sent": entry, "outbox_size": len(self.state["outbox"])}

    def make_call(self, contact: str, app: str | None = None) -> dict[str, Any]:
        entry = {"contact": contact, "app": app or "default", "status": "calling"}
        self.state["calls"].append(entry)
        return {"ok": True, "call": entry}

    def share_last_capture(self, destination: str, contact: str | None = None) -> dict[str, Any]:
        if not self.state["captures"]:
            return _error("no photo or video to share")
        if contact is not None and destination not in DIRECT_DESTINATIONS:
            return _error(f"{destination} posts cannot be addressed to a contact")
        capture = self.state["captures"][-1]
        # The phone app fetches the capture from the glasses before sharing it.
        capture["imported"] = True
        entry = {"capture": capture["id"], "destination": destination, "contact": contact}
        self.state["shares"].append(entry)
        return {"ok": True, "shared": entry}

    # -- device ---------------------------------------------------------------------------------

    def get_battery_level(self, component: str = "glasses") -> dict[str, Any]:
        return {"ok": True, "battery": {component: self.state["battery"][component]}}

    def import_media(self) -> dict[str, Any]:
        new = [c for c in self.state["captures"] if not c["imported"]]
        for capture in new:
            capture["imported"] = True
        return {"ok": True, "imported": [c["id"] for c in new], "count": len(new)}
