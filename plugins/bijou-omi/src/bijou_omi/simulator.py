"""A deterministic simulator of an Omi pendant and its phone app.

The simulated "today" is ``TODAY`` (Wednesday 12 March 2025); weeks start on Monday. The
conversations, memories and action items are fixed fake data, and every search is a plain
keyword match (lowercased words, stop words dropped, a light suffix stemmer), so runs are
reproducible: no clock, no randomness, no network. ``web_search`` and ``ask_omi_product``
answer from small canned tables (the product answers are simulator data, not official specs).
"""

from __future__ import annotations

import copy
import re
from datetime import date, timedelta
from typing import Any

from bijou_core import DeviceSimulator

TODAY = date(2025, 3, 12)
TIME_RANGES = (
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "all_time",
)
#: Battery drain in percent per hour, recording or idle (gives the estimate of hours left).
DRAIN_RECORDING = 4
DRAIN_IDLE = 1

# fmt: off
STOP_WORDS = frozenset((
    "a", "an", "the", "my", "our", "your", "me", "i", "we", "you", "he", "she", "they", "it",
    "of", "to", "in", "on", "at", "for", "with", "about", "and", "or", "is", "are", "was", "were",
    "be", "been", "do", "did", "does", "what", "whats", "when", "where", "who", "how", "that",
    "this", "these", "those", "any", "some", "from", "by", "as", "up", "if", "so", "just",
    "please", "all", "said", "say", "says", "talk", "talked", "discuss", "discussed",
    "conversation", "conversations", "mention", "mentioned",
))
# fmt: on

CONVERSATIONS: tuple[dict[str, Any], ...] = (
    {
        "id": "c10",
        "date": "2025-03-12",
        "start": "09:30",
        "minutes": 25,
        "title": "Q2 budget review with Sarah",
        "participants": ["Sarah"],
        "summary": "Sarah wants marketing spend cut by 10% and the revised budget by Friday.",
    },
    {
        "id": "c9",
        "date": "2025-03-12",
        "start": "08:05",
        "minutes": 12,
        "title": "Morning standup",
        "participants": ["Dev", "Priya", "Tom"],
        "summary": "The login bug is fixed; Tom is blocked on the payments API key.",
    },
    {
        "id": "c8",
        "date": "2025-03-11",
        "start": "19:10",
        "minutes": 40,
        "title": "Dinner with Mike about the Yosemite trip",
        "participants": ["Mike"],
        "summary": "Mike suggests hiking Half Dome in June; flights need booking this month.",
    },
    {
        "id": "c7",
        "date": "2025-03-11",
        "start": "14:00",
        "minutes": 8,
        "title": "Call with the dentist's office",
        "participants": ["Dr. Patel's office"],
        "summary": "A cleaning is due; they have openings next Tuesday and Thursday.",
    },
    {
        "id": "c6",
        "date": "2025-03-10",
        "start": "18:30",
        "minutes": 22,
        "title": "Call with Mom about her birthday party",
        "participants": ["Mom"],
        "summary": "Mom's party is on March 22nd at the lake house; bring a gift and a cake.",
    },
    {
        "id": "c5",
        "date": "2025-03-06",
        "start": "11:00",
        "minutes": 35,
        "title": "Onboarding brainstorm",
        "participants": ["Priya", "Sarah"],
        "summary": "Ideas to shorten signup to three steps; Priya will mock up the new flow.",
    },
    {
        "id": "c4",
        "date": "2025-03-04",
        "start": "17:45",
        "minutes": 15,
        "title": "Lease renewal with the landlord",
        "participants": ["Mr. Alvarez"],
        "summary": "Rent goes up 3% in May; the lease renewal must be signed by March 31st.",
    },
    {
        "id": "c3",
        "date": "2025-03-01",
        "start": "10:20",
        "minutes": 50,
        "title": "Podcast idea with Priya",
        "participants": ["Priya"],
        "summary": "A podcast about wearable AI; Priya drafts an outline of the first episode.",
    },
    {
        "id": "c2",
        "date": "2025-02-20",
        "start": "07:00",
        "minutes": 45,
        "title": "Gym session with trainer Jake",
        "participants": ["Jake"],
        "summary": "New leg day program; Jake says to sleep more and eat more protein.",
    },
    {
        "id": "c1",
        "date": "2025-02-14",
        "start": "20:00",
        "minutes": 60,
        "title": "Valentine's dinner at Kaito",
        "participants": ["Alex"],
        "summary": "Alex loved the omakase; plans a weekend in Lisbon in April.",
    },
    {
        "id": "c0",
        "date": "2025-01-28",
        "start": "15:00",
        "minutes": 30,
        "title": "Performance review with the boss",
        "participants": ["Dana"],
        "summary": "Dana supports a promotion next quarter if the onboarding project ships.",
    },
)

MEMORIES: tuple[dict[str, Any], ...] = (
    {"id": "m1", "content": "Sarah prefers email over Slack", "topics": ["work", "sarah"]},
    {"id": "m2", "content": "Mom's birthday is March 22nd", "topics": ["mom", "birthdays"]},
    {"id": "m3", "content": "I'm allergic to shellfish", "topics": ["health", "food"]},
    {"id": "m4", "content": "Mike likes hazy IPAs", "topics": ["mike", "food", "gifts"]},
    {"id": "m5", "content": "The spare key is under the blue pot", "topics": ["home"]},
    {"id": "m6", "content": "My favorite sushi place is Kaito", "topics": ["food", "restaurants"]},
    {"id": "m7", "content": "My passport expires in June", "topics": ["travel"]},
    {"id": "m8", "content": "The landlord is Mr. Alvarez", "topics": ["home", "apartment"]},
)

ACTION_ITEMS: tuple[dict[str, Any], ...] = (
    {
        "id": "a1",
        "description": "Send Sarah the revised budget",
        "due": "friday",
        "status": "open",
        "created": "2025-03-12",
    },
    {
        "id": "a2",
        "description": "Book flights for the Yosemite trip",
        "due": None,
        "status": "open",
        "created": "2025-03-11",
    },
    {
        "id": "a3",
        "description": "Schedule a dentist cleaning",
        "due": "next tuesday",
        "status": "open",
        "created": "2025-03-11",
    },
    {
        "id": "a4",
        "description": "Buy a birthday gift for Mom",
        "due": "saturday",
        "status": "open",
        "created": "2025-03-10",
    },
    {
        "id": "a5",
        "description": "Sign the lease renewal",
        "due": "march 31st",
        "status": "completed",
        "created": "2025-03-04",
    },
    {
        "id": "a6",
        "description": "Review Priya's podcast outline",
        "due": None,
        "status": "completed",
        "created": "2025-03-01",
    },
    {
        "id": "a7",
        "description": "Buy protein powder",
        "due": None,
        "status": "open",
        "created": "2025-02-20",
    },
)

#: Canned web results: keyword -> snippet. Anything else gets generic results.
WEB_ANSWERS = {
    "weather": "Partly cloudy, 18°C, light wind.",
    "eiffel": "The Eiffel Tower is 330 metres tall.",
    "capital": "Canberra is the capital of Australia.",
    "bitcoin": "Bitcoin trades around $84,000.",
}

#: The simulator's help center: (keywords, answer). The first entry sharing most words wins.
PRODUCT_FAQ: tuple[tuple[frozenset[str], str], ...] = (
    (
        frozenset({"charge", "charging", "charger", "cable", "usb"}),
        "Plug Omi into a USB-C cable; a full charge takes about 90 minutes.",
    ),
    (
        frozenset({"offline", "internet", "wifi", "connection", "disconnected"}),
        "Omi keeps recording without your phone and syncs the audio when it reconnects.",
    ),
    (
        frozenset({"battery", "last", "long", "hours", "life"}),
        "The battery lasts about a day of continuous recording.",
    ),
    (
        frozenset({"pair", "pairing", "bluetooth", "connect", "phone", "app"}),
        "Open the Omi app, tap Add device and hold Omi close to your phone.",
    ),
    (
        frozenset({"waterproof", "water", "shower", "swim", "rain", "sweat"}),
        "Omi resists splashes and sweat but should not be worn in the shower or pool.",
    ),
    (
        frozenset({"light", "led", "blinking", "blink", "color", "indicator"}),
        "A blinking light means Omi is recording; solid means it is charging.",
    ),
    (
        frozenset({"delete", "privacy", "data", "stored", "encrypted", "private", "erase"}),
        "Your transcripts are encrypted; delete any conversation from the app's history.",
    ),
    (
        frozenset({"reset", "restart", "firmware", "update", "reboot"}),
        "Update or reset Omi from Settings > Device in the app.",
    ),
    (
        frozenset({"language", "languages", "spanish", "french", "understand"}),
        "Omi transcribes over 30 languages; pick yours in Settings > Language.",
    ),
)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def keywords(text: str | None) -> set[str]:
    """The comparable words of ``text``: lowercased, stop words dropped, lightly stemmed."""
    words = re.findall(r"[a-z0-9]+", (text or "").lower().replace("'s", ""))
    return {_stem(w) for w in words if w not in STOP_WORDS}


def date_range(time_range: str, today: date = TODAY) -> tuple[date, date]:
    """The first and last day (inclusive) of ``time_range`` relative to ``today``."""
    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    if time_range == "today":
        return today, today
    if time_range == "yesterday":
        day = today - timedelta(days=1)
        return day, day
    if time_range == "this_week":
        return monday, today
    if time_range == "last_week":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if time_range == "this_month":
        return first_of_month, today
    if time_range == "last_month":
        end = first_of_month - timedelta(days=1)
        return end.replace(day=1), end
    if time_range == "all_time":
        return date.min, today
    raise ValueError(f"unknown time range {time_range!r}")


def _in_range(iso_day: str, time_range: str) -> bool:
    first, last = date_range(time_range)
    return first <= date.fromisoformat(iso_day) <= last


class OmiSimulator(DeviceSimulator):
    """Omi: conversations, memories, action items, daily summary, recording and battery."""

    # Nothing here sends a message, spends money or destroys data: creating memories and to-dos
    # is reversible, and turning recording off is the privacy-safe direction (turning it on again
    # is what the wearer asked). So no tool needs confirmation.
    confirm = frozenset()

    def initial_state(self) -> dict[str, Any]:
        return {
            "today": TODAY.isoformat(),
            "recording": True,
            "connected": True,
            "battery": {"level": 64, "charging": False},
            "conversations": copy.deepcopy(list(CONVERSATIONS)),
            "memories": copy.deepcopy(list(MEMORIES)),
            "action_items": copy.deepcopy(list(ACTION_ITEMS)),
            "searches": [],
        }

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _score(query: set[str], *texts: str) -> int:
        return len(query & keywords(" ".join(texts)))

    @staticmethod
    def _brief(conversation: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "date", "start", "title", "participants", "summary")
        return {k: conversation[k] for k in keys}

    def _newest_first(self, items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return sorted(items, key=lambda c: (c[key], c.get("start", ""), c["id"]), reverse=True)

    # -- conversations --------------------------------------------------------------------------

    def search_conversations(self, query: str, time_range: str = "all_time") -> dict[str, Any]:
        words = keywords(query)
        hits = []
        for conv in self._newest_first(self.state["conversations"], "date"):
            if not _in_range(conv["date"], time_range):
                continue
            score = self._score(words, conv["title"], conv["summary"], *conv["participants"])
            if score:
                hits.append((score, conv))
        hits.sort(key=lambda h: -h[0])  # stable: ties stay newest first
        return {
            "ok": True,
            "query": query,
            "time_range": time_range,
            "results": [self._brief(c) for _, c in hits[:5]],
        }

    def get_conversations(self, time_range: str = "all_time", limit: int = 10) -> dict[str, Any]:
        limit = max(1, min(50, int(limit)))
        convs = [
            c
            for c in self._newest_first(self.state["conversations"], "date")
            if _in_range(c["date"], time_range)
        ]
        return {
            "ok": True,
            "time_range": time_range,
            "total": len(convs),
            "conversations": [self._brief(c) for c in convs[:limit]],
        }

    # -- memories -----------------------------------------------------------------------------

    def get_memories(self, topic: str | None = None, limit: int = 20) -> dict[str, Any]:
        limit = max(1, min(100, int(limit)))
        memories = list(reversed(self.state["memories"]))  # newest first
        if topic:
            words = keywords(topic)
            memories = [m for m in memories if self._score(words, m["content"], *m["topics"])]
        return {
            "ok": True,
            "topic": topic,
            "memories": [m["content"] for m in memories[:limit]],
        }

    def create_memory(self, content: str) -> dict[str, Any]:
        content = content.strip()
        if not content:
            return {"ok": False, "error": "nothing to remember"}
        for memory in self.state["memories"]:
            if memory["content"].casefold() == content.casefold():
                return {"ok": True, "memory": dict(memory), "duplicate": True}
        memory = {
            "id": f"m{len(self.state['memories']) + 1}",
            "content": content,
            "topics": sorted(keywords(content)),
        }
        self.state["memories"].append(memory)
        return {"ok": True, "memory": dict(memory), "duplicate": False}

    # -- action items -------------------------------------------------------------------------

    def get_action_items(
        self, status: str = "open", time_range: str = "all_time"
    ) -> dict[str, Any]:
        items = [
            dict(a)
            for a in self._newest_first(self.state["action_items"], "created")
            if (status == "all" or a["status"] == status) and _in_range(a["created"], time_range)
        ]
        return {"ok": True, "status": status, "time_range": time_range, "action_items": items}

    def create_action_item(self, description: str, due: str | None = None) -> dict[str, Any]:
        description = description.strip()
        if not description:
            return {"ok": False, "error": "empty to-do"}
        item = {
            "id": f"a{len(self.state['action_items']) + 1}",
            "description": description,
            "due": due,
            "status": "open",
            "created": self.state["today"],
        }
        self.state["action_items"].append(item)
        return {"ok": True, "action_item": dict(item)}

    def complete_action_item(self, description: str) -> dict[str, Any]:
        """Complete the open item sharing the most keywords with ``description``."""
        words = keywords(description)
        best, best_score = None, 0
        for item in self.state["action_items"]:
            if item["status"] != "open":
                continue
            score = self._score(words, item["description"])
            if score > best_score:
                best, best_score = item, score
        if best is None:
            return {"ok": False, "error": f"no open to-do matches {description!r}"}
        best["status"] = "completed"
        return {"ok": True, "action_item": dict(best)}

    # -- daily summary --------------------------------------------------------------------------

    def get_daily_summary(self, day: str = "today") -> dict[str, Any]:
        iso = date_range(day)[0].isoformat()
        convs = [c for c in self.state["conversations"] if c["date"] == iso]
        convs.sort(key=lambda c: c["start"])
        new_items = [a["description"] for a in self.state["action_items"] if a["created"] == iso]
        people = sorted({p for c in convs for p in c["participants"]})
        return {
            "ok": True,
            "day": day,
            "date": iso,
            "conversations": len(convs),
            "minutes_recorded": sum(c["minutes"] for c in convs),
            "people": people,
            "highlights": [c["summary"] for c in convs],
            "new_action_items": new_items,
        }

    # -- device -------------------------------------------------------------------------------

    def set_recording(self, enabled: bool) -> dict[str, Any]:
        was = self.state["recording"]
        self.state["recording"] = bool(enabled)
        return {"ok": True, "recording": bool(enabled), "changed": was != bool(enabled)}

    def get_battery_status(self) -> dict[str, Any]:
        battery = self.state["battery"]
        drain = DRAIN_RECORDING if self.state["recording"] else DRAIN_IDLE
        return {
            "ok": True,
            "level": battery["level"],
            "charging": battery["charging"],
            "recording": self.state["recording"],
            "hours_left": battery["level"] // drain,
        }

    # -- questions ----------------------------------------------------------------------------

    def web_search(self, query: str) -> dict[str, Any]:
        self.state["searches"].append(query)
        words = keywords(query)
        answer = next((text for key, text in WEB_ANSWERS.items() if key in words), None)
        slug = "+".join(sorted(words)) or "search"
        results = [
            {
                "title": f"{query.strip().capitalize()} - overview",
                "url": f"https://example.com/{slug}",
            },
            {
                "title": f"{query.strip().capitalize()} - news",
                "url": f"https://news.example.com/{slug}",
            },
        ]
        return {"ok": True, "query": query, "answer": answer, "results": results}

    def ask_omi_product(self, question: str) -> dict[str, Any]:
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", question)}
        best, best_score = None, 0
        for keys, answer in PRODUCT_FAQ:
            score = len(words & keys)
            if score > best_score:
                best, best_score = answer, score
        if best is None:
            return {"ok": True, "question": question, "answer": None, "see": "the Omi help center"}
        return {"ok": True, "question": question, "answer": best}
