"""``python -m bijou_core.cli`` (e.g. under ``accelerate launch -m bijou_core.cli ...``)."""

from . import main

main()
