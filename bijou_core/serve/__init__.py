"""``bijou serve``: the runtime engine behind an OpenAI-compatible chat-completions API.

A request's ``model`` names a device, its last user message is the command, and the answer is the
device's calls as OpenAI ``tool_calls``. One resident model, every adapter resident, one lock around
it: requests for different devices interleave, one at a time on the model. See :mod:`.app`.
"""

from .app import create_app
from .service import Service

__all__ = ["Service", "create_app"]
