"""pagellm: a chat LLM in one static web page, and the same engines as a Python library.

    from pagellm import Conversation, GenerationSettings
    from pagellm.remote import RemoteEngine     # any OpenAI-compatible endpoint (browser or CPython)
    from pagellm.local import LocalEngine       # Transformers.js, in a Pyodide page only
"""

from .engine import Citations, ContextUse, Delta, Engine, Final, Progress, Reading, ReplyClock
from .errors import PagellmError
from .messages import Conversation, Message
from .settings import GenerationSettings

__version__ = "0.1.0"
__all__ = [
    "Citations", "ContextUse", "Conversation", "Delta", "Engine", "Final", "GenerationSettings", "Message", "PagellmError",
    "Progress", "Reading", "ReplyClock", "__version__",
]
