"""A simulated smart ring with fixed fake data: sleep, heart rate, readiness, workouts, alarm."""

from __future__ import annotations

from typing import Any

from bijou_core import DeviceSimulator

RESTING_BPM = 64
WORKOUT_BPM = 128  # the heart rate reported while a workout is tracked
SMART_WAKE_WINDOW = 30  # minutes before the alarm time in which smart wake may wake the user


class SmartRingSimulator(DeviceSimulator):
    """A smart ring, deterministic (no clock, no randomness): one method per tool."""

    # Ending a workout can throw its recording away: ask first.
    confirm = frozenset({"end_workout"})

    def initial_state(self) -> dict[str, Any]:
        return {
            "sleep_scores": {"last_night": 84, "night_before": 71, "week_average": 78},
            "readiness": 81,
            "workout": None,
            "workouts": [],
            "do_not_disturb": False,
            "alarm": None,
            "vibrating": False,
            "last_seen": "bedside table",
        }

    def get_sleep_score(self, night: str = "last_night") -> dict[str, Any]:
        """Report the sleep score of a night or the weekly average."""
        return {"night": night, "score": self.state["sleep_scores"][night]}

    def get_heart_rate(self) -> dict[str, Any]:
        """Report the current heart rate (higher while a workout is tracked)."""
        return {"bpm": WORKOUT_BPM if self.state["workout"] else RESTING_BPM}

    def get_readiness(self) -> dict[str, Any]:
        """Report today's readiness score."""
        return {"readiness": self.state["readiness"]}

    def start_workout(self, type: str) -> dict[str, Any]:
        """Start tracking a workout of ``type`` (the tool's parameter name); one at a time."""
        current = self.state["workout"]
        if current:
            return {"started": False, "reason": f"a {current['type']} is already being tracked"}
        self.state["workout"] = {"type": type, "number": len(self.state["workouts"]) + 1}
        return {"started": True, "type": type}

    def end_workout(self, save: bool = True) -> dict[str, Any]:
        """End the tracked workout, keeping its recording when ``save``."""
        current = self.state["workout"]
        if not current:
            return {"ended": False, "reason": "no workout is being tracked"}
        if save:
            self.state["workouts"].append(current)
        self.state["workout"] = None
        return {"ended": True, "type": current["type"], "saved": save}

    def set_do_not_disturb(self, enabled: bool) -> dict[str, Any]:
        """Turn do not disturb on or off."""
        self.state["do_not_disturb"] = enabled
        return {"do_not_disturb": enabled}

    def set_alarm(self, time: str, smart_wake: bool = False) -> dict[str, Any]:
        """Set the alarm; smart wake may wake up to ``SMART_WAKE_WINDOW`` minutes early."""
        self.state["alarm"] = {"time": time, "smart_wake": smart_wake}
        return {"alarm": time, "wake_window_minutes": SMART_WAKE_WINDOW if smart_wake else 0}

    def find_my_ring(self) -> dict[str, Any]:
        """Make the ring vibrate and report where it was last seen."""
        self.state["vibrating"] = True
        return {"vibrating": True, "last_seen": self.state["last_seen"]}
