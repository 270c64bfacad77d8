"""One error type per cause a user can meet, each with a message that says what to do.

Every error carries a stable ``code`` (for the page and the tests; the CLI maps the type to its exit
status) and a human message. Messages never contain API keys. An error a server answered with also
carries that answer as data: ``status``, ``host`` and ``server_message`` (see ``openai_errors``).

    >>> try:
    ...     raise SettingsError("temperature", "must be between 0 and 2, got 5")
    ... except PagellmError as err:
    ...     print(err.code, err)
    bad_setting temperature must be between 0 and 2, got 5
"""

from __future__ import annotations


class PagellmError(Exception):
    """Base of every error pagellm raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self)}


# -- input and settings ---------------------------------------------------------------------

class InputError(PagellmError):
    """Something the user typed or passed cannot be used as it is."""

    code = "bad_input"


class SettingsError(InputError):
    """A generation or engine setting is out of range or unknown."""

    code = "bad_setting"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field} {message}")
        self.field = field


class ContextOverflowError(InputError):
    """The conversation cannot be made to fit the model's context window."""

    code = "context_overflow"


# -- local engine ---------------------------------------------------------------------------

class ModelLoadError(PagellmError):
    """A model could not be loaded (missing file, unsupported model, out of memory)."""

    code = "model_load"


class DeviceError(PagellmError):
    """The requested compute device is not available."""

    code = "device"


class GenerationError(PagellmError):
    """The engine failed while producing a reply."""

    code = "generation"


class SiteError(PagellmError):
    """The site that serves pagellm's files (runtime, models) cannot be found or read."""

    code = "site"


# -- remote engine --------------------------------------------------------------------------

class RemoteError(PagellmError):
    """Base of the errors met while talking to an OpenAI-compatible endpoint.

    ``status`` is the HTTP status the server answered with, ``host`` the server (``host:port``) and
    ``server_message`` its own words (redacted); each is None when the error did not come from an answer.
    """

    code = "remote"

    def __init__(self, message: str, *, hint: str | None = None, status: int | None = None,
                 host: str | None = None, server_message: str | None = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.host = host
        self.server_message = server_message


class BadURLError(RemoteError):
    code = "bad_url"


class NetworkError(RemoteError):
    """DNS failure, refused connection, unreachable host."""

    code = "network"


class CORSError(NetworkError):
    """The browser refused the response because the server did not allow this page's origin."""

    code = "cors"


class MixedContentError(NetworkError):
    """An https page may not call an http endpoint (other than localhost)."""

    code = "mixed_content"


class RequestTimeoutError(NetworkError):
    """The server sent nothing for too long, or a proxy in front of it gave up (408, 504, 524)."""

    code = "timeout"


class AuthError(RemoteError):
    """401/403: the key is missing, wrong, or not allowed to use this model."""

    code = "auth"


class NotFoundError(RemoteError):
    """404: wrong base URL path or unknown model."""

    code = "not_found"


class RateLimitError(RemoteError):
    """429: too many requests; ``retry_after`` is in seconds when the server said."""

    code = "rate_limit"

    def __init__(self, message: str, *, retry_after: float | None = None, **details):
        super().__init__(message, **details)
        self.retry_after = retry_after


class ServerError(RemoteError):
    """5xx, or an error object the server sent inside the stream."""

    code = "server"


class BadRequestError(RemoteError):
    """400/422: the server rejected the request (context too long, bad parameter)."""

    code = "bad_request"


class ContextLengthError(BadRequestError):
    """400: the conversation plus the reply budget is longer than the model's context window."""

    code = "context_length"


class ProtocolError(RemoteError):
    """The server's reply is not valid OpenAI-compatible JSON or SSE."""

    code = "protocol"


class StreamCutError(RemoteError):
    """The stream ended before the reply was finished."""

    code = "stream_cut"


class Cancelled(PagellmError):
    """The user stopped the reply. Not a failure: the partial reply is kept."""

    code = "cancelled"


# -- tools and structured output ------------------------------------------------------------

class ToolError(PagellmError):
    """A tool call the model made could not be carried out; the model is told why."""

    code = "tool"


class UnknownToolError(ToolError):
    code = "unknown_tool"


class ToolArgumentsError(ToolError):
    code = "tool_arguments"


class ToolFailedError(ToolError):
    code = "tool_failed"


class ToolLoopError(ToolError):
    """The model kept calling tools past the step limit."""

    code = "tool_loop"


class SchemaError(GenerationError):
    """The model's answer is not JSON of the schema asked for (after one retry)."""

    code = "schema"
