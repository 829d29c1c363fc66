"""Spoken numbers as digits: "set it to seventy five" -> "set it to 75".

Inverse text normalization with text2num, applied by the one prompt renderer to every command
(training, evaluation and the runtime alike) and by the eval rules to free text, so that a model
copies digits instead of spelling numbers out: a speech transcript says "seventy five percent"
where a typed command says "75%". Small isolated numbers stay words ("turn it up two notches").
Digits grouped by thousands lose their commas ("my code is 4,312" -> "4312", as a recognizer
writes a number the user said digit by digit).
"""

from __future__ import annotations

import re

from text_to_num import alpha2digit

# "a twenty second video" is 20 seconds, not the 22nd: the words around "second(s)" are converted
# apart from it.
_SECOND = re.compile(r"\b(seconds?)\b", re.IGNORECASE)
_GROUPED = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")


def digits(text: str) -> str:
    """``text`` with its spelled numbers (of more than three, or in a group) as digits."""
    parts = _SECOND.split(text)
    text = "".join(part if i % 2 else alpha2digit(part, "en") for i, part in enumerate(parts))
    return _GROUPED.sub(lambda match: match[0].replace(",", ""), text)
