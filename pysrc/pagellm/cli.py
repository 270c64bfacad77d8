"""The terminal client: stream a reply from any OpenAI-compatible endpoint.

    python -m pagellm --base-url http://localhost:11434/v1 --model llama3.2 "Why is the sky blue?"
    OPENAI_API_KEY=... python -m pagellm --provider openai --model gpt-4o-mini "Hello"
    python -m pagellm --provider ollama --list-models
    python -m pagellm --base-url ... --model ... --continue chat.json "And then?"   # a chat exported from the page

``--continue FILE`` carries on a chat exported from the page (or a backup of all chats, with ``--chat ID``):
the reply is added to its visible branch and the file is written back in place, the other chats and
branches untouched. Without a prompt, a reply that was cut (stopped, or at the token limit) is continued.

The key comes from the environment, never from the command line: ``--api-key-env NAME`` names the
variable; otherwise the provider's own variable (``OPENAI_API_KEY``, ...) is used, but only when the
base URL is that provider's own server, then ``PAGELLM_API_KEY``. The reply goes to stdout as it
streams; errors go to stderr as one line, and the exit status says which kind (``EXIT_STATUS``:
2 bad input or URL, 3 local engine or tool, 4 network/server/protocol, 5 key, 130 stopped with Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from typing import Mapping

from . import __version__, errors, providers
from .engine import Delta, Final
from .errors import AuthError, InputError, PagellmError
from .messages import Conversation, Message
from .remote import RemoteEngine
from .settings import GenerationSettings
from .urls import validate_base_url

__all__ = ["main", "resolve_key", "build_parser", "exit_status", "EXIT_STATUS"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FALLBACK_ENV = "PAGELLM_API_KEY"

# Error type -> the process's exit status; an error takes the entry of its nearest listed base class.
EXIT_STATUS: Mapping[type, int] = {
    errors.PagellmError: 1,
    errors.InputError: 2,
    errors.BadURLError: 2,
    errors.ModelLoadError: 3,
    errors.DeviceError: 3,
    errors.GenerationError: 3,
    errors.SiteError: 3,
    errors.ToolError: 3,
    errors.RemoteError: 4,
    errors.AuthError: 5,
    errors.Cancelled: 130,
}


def exit_status(err: PagellmError) -> int:
    """The exit status for an error: 2 bad input, 3 local engine or tool, 4 remote, 5 key refused, 130 stopped."""
    return next(EXIT_STATUS[cls] for cls in type(err).__mro__ if cls in EXIT_STATUS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pagellm", allow_abbrev=False,
        description="Stream a chat reply from an OpenAI-compatible endpoint.",
        epilog="The API key is read from an environment variable (see --api-key-env), never from the command line.",
    )
    parser.add_argument("prompt", nargs="*", help="the message (read from stdin when absent)")
    parser.add_argument("--provider", default=None, help=f"a preset: {', '.join(providers.PROVIDERS)} (default custom)")
    parser.add_argument("--base-url", default=None, help="the API's base URL, e.g. http://localhost:11434/v1")
    parser.add_argument("--model", default="", help="the model id")
    parser.add_argument("--system", default="", help="a system prompt")
    parser.add_argument("--continue", dest="continue_file", default=None, metavar="FILE",
                        help="carry on a chat exported from the page and write the file back")
    parser.add_argument("--chat", default=None, metavar="ID",
                        help="with --continue: which chat of the file (its id or title), when it holds several")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--repetition-penalty", type=float, default=None)
    parser.add_argument("--max-tokens", type=int, default=None, help="the most tokens to generate (default 256)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--stop", action="append", default=None, help="a stop string (repeatable)")
    parser.add_argument("--api-key-env", default=None, metavar="NAME",
                        help="the environment variable holding the key (default: the provider's, then PAGELLM_API_KEY)")
    parser.add_argument("--api-key", dest="api_key_on_command_line", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds without data before giving up (default 60)")
    parser.add_argument("--list-models", action="store_true", help="list the server's models and exit")
    parser.add_argument("--list-providers", action="store_true", help="list the presets and exit")
    parser.add_argument("--show-reasoning", action="store_true", help="print the model's reasoning to stderr")
    parser.add_argument("--stats", action="store_true", help="print token counts and speed to stderr")
    parser.add_argument("--version", action="version", version=f"pagellm {__version__}")
    return parser


def resolve_key(preset: providers.Provider, base_url: str, key_env: str | None,
                environ: Mapping[str, str]) -> tuple[str | None, str]:
    """(the key or None, where it comes from in words) — a provider's default key never goes elsewhere."""
    if key_env is not None:
        if not _ENV_NAME.match(key_env):
            raise InputError("--api-key-env takes the NAME of an environment variable, not a key.",
                             hint="For example: export MY_KEY=...; python -m pagellm --api-key-env MY_KEY ...")
        key = environ.get(key_env, "").strip()
        if not key:
            raise AuthError(f"The environment variable {key_env} is not set or empty.",
                            hint=f"Export it first: export {key_env}=...")
        return key, f"the environment variable {key_env}"
    if preset.key_env and providers.same_server(preset, base_url):
        key = environ.get(preset.key_env, "").strip()
        if key:
            return key, f"the environment variable {preset.key_env}"
    key = environ.get(FALLBACK_ENV, "").strip()
    if key:
        return key, f"the environment variable {FALLBACK_ENV}"
    names = [preset.key_env] if preset.key_env and providers.same_server(preset, base_url) else []
    names.append(FALLBACK_ENV)
    return None, "the environment variable " + " or ".join(names) + " (or --api-key-env NAME)"


def _settings(args) -> GenerationSettings:
    values = {
        "temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k,
        "repetition_penalty": args.repetition_penalty, "max_new_tokens": args.max_tokens, "seed": args.seed,
        "stop": tuple(args.stop) if args.stop else None,
    }
    return GenerationSettings.from_dict({k: v for k, v in values.items() if v is not None})


def _error_line(err: BaseException) -> str:
    if isinstance(err, PagellmError):
        return f"pagellm: {err.code}: {err}"
    return f"pagellm: error: {err}"


async def _run(args, out, err) -> int:
    preset = providers.get(args.provider or "custom")
    base_url = args.base_url or preset.base_url
    if not base_url:
        raise InputError("Give the server's address with --base-url (or choose a --provider).",
                         hint="For example: --base-url http://localhost:11434/v1")
    base_url = validate_base_url(base_url)
    key, key_source = resolve_key(preset, base_url, args.api_key_env, os.environ)
    engine = RemoteEngine(base_url, args.model, api_key=key, provider=preset, timeout=args.timeout,
                          key_source=key_source)
    main_task = asyncio.current_task()
    stopping = False
    loop = asyncio.get_running_loop()

    def on_sigint():
        nonlocal stopping
        if engine._active and not stopping:
            stopping = True
            engine.cancel()
        else:
            main_task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    except (NotImplementedError, RuntimeError, ValueError):
        pass
    try:
        if args.list_models:
            for model in await engine.list_models():
                out.write(model + "\n")
            return 0
        prompt = " ".join(args.prompt).strip()
        if not prompt and not sys.stdin.isatty() and not args.continue_file:
            prompt = sys.stdin.read().strip()
        settings = _settings(args)
        if args.continue_file:
            saved = ChatFile(args.continue_file, args.chat)
            conversation, reply = saved.conversation, saved.prepare(prompt, args.system)
        else:
            conversation = Conversation(system_prompt=args.system)
            conversation.add_user(prompt)
            saved = reply = None
        await engine.load()
        wrote_text = in_reasoning = False
        parts: list[str] = []
        final = None
        try:
            async for event in engine.stream(conversation, settings):
                if isinstance(event, Delta):
                    if event.kind == "reasoning":
                        if args.show_reasoning:
                            err.write(event.text)
                            err.flush()
                            in_reasoning = True
                        continue
                    if in_reasoning:
                        err.write("\n")
                        in_reasoning = False
                    out.write(event.text)
                    out.flush()
                    parts.append(event.text)
                    wrote_text = True
                elif isinstance(event, Final):
                    final = event
        except (PagellmError, asyncio.CancelledError) as failure:
            if saved is not None:  # what came is kept in the file, marked, before the error is reported
                stopped = isinstance(failure, asyncio.CancelledError)
                saved.finish(reply, "".join(parts), "stopped" if stopped else "error", None,
                             None if stopped else str(failure))
            raise
        cancelled = final is not None and final.finish_reason == "cancelled"
        if saved is not None:
            saved.finish(reply, "".join(parts), "stopped" if cancelled else "complete", final)
        if wrote_text:
            out.write("\n")
            out.flush()
        if final is not None and args.stats:
            rate = f", {final.tokens_per_second:.1f} tok/s" if final.tokens_per_second else ""
            ttft = f", first token {final.time_to_first_token:.2f} s" if final.time_to_first_token is not None else ""
            err.write(f"pagellm: {final.completion_tokens} tokens in {final.total_time:.2f} s{ttft}{rate} "
                      f"(finish: {final.finish_reason})\n")
        if saved is not None:
            err.write(f"pagellm: the reply was added to {saved.path}\n")
        if cancelled:
            err.write("pagellm: stopped\n")
            return 130
        if final is not None and final.finish_reason == "length":
            err.write("pagellm: the reply reached --max-tokens and was cut there"
                      + (" (run again with --continue and no prompt to carry it on)\n" if saved else "\n"))
        return 0
    except PagellmError:
        if getattr(sys.exc_info()[1], "partial_text", ""):
            out.write("\n")
            out.flush()
        raise
    finally:
        try:
            loop.remove_signal_handler(signal.SIGINT)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
        await engine.aclose()


class ChatFile:
    """A chat exported from the page, carried on here and written back: the file's other chats, their
    branches and their saved settings are kept as they were."""

    def __init__(self, path: str, chat: str | None):
        from .transfer import import_json

        self.path = path
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        except OSError as err:
            raise InputError(f"Cannot read {path}: {err.strerror or err}.") from None
        except UnicodeDecodeError:
            raise InputError(f"{path} is not a text file (expected a pagellm JSON export).") from None
        self.chats = import_json(text)
        self.settings = self._settings(text)
        if chat is None:
            if len(self.chats) > 1:
                names = ", ".join(f"{c.id} ({c.title or 'untitled'})" for c in self.chats[:10])
                raise InputError(f"{path} holds {len(self.chats)} chats: name one with --chat ID. They are: {names}.")
            self.conversation = self.chats[0]
        else:
            found = [c for c in self.chats if chat in (c.id, c.title)]
            if not found:
                raise InputError(f"{path} has no chat with the id or title {chat!r}.")
            self.conversation = found[0]

    @staticmethod
    def _settings(text: str) -> dict:
        """Each chat's saved settings (by id), which the file keeps as they were."""
        import json

        payload = json.loads(text)
        items = payload.get("conversations", []) if isinstance(payload, dict) else []
        return {str(item.get("id")): item["settings"] for item in items
                if isinstance(item, dict) and isinstance(item.get("settings"), dict)}

    def prepare(self, prompt: str, system: str) -> Message:
        """The message the reply goes into: a new reply to ``prompt``, or, without one, the cut reply to carry on."""
        chat = self.conversation
        if system:
            chat.system_prompt = system
        if prompt:
            chat.add_user(prompt)
            return chat.add_assistant("", status="interrupted")
        last = chat.last
        if last is not None and last.role == "user":
            return chat.add_assistant("", status="interrupted")  # an unanswered question: answer it
        if last is None or not last.cut:
            raise InputError("Give the next message: the chat's last reply is complete, so there is nothing to continue.")
        return chat.continue_reply(last.id)

    def finish(self, reply: Message, text: str, status: str, final: Final | None, error: str | None = None) -> None:
        """Put the streamed text into ``reply`` and write the file back (through a temporary file, so an
        interrupted write never leaves half a file)."""
        from .transfer import export_json

        reply.content += text
        reply.status = status
        if final is not None:
            reply.meta["stats"] = final.to_dict()
        if error:
            reply.meta["error"] = error
        else:
            reply.meta.pop("error", None)
        payload = export_json(self.chats)
        if self.settings:
            import json

            data = json.loads(payload)
            for item in data["conversations"]:
                if item["id"] in self.settings:
                    item["settings"] = self.settings[item["id"]]
            payload = json.dumps(data, indent=1, ensure_ascii=False)
        temporary = f"{self.path}.pagellm-{os.getpid()}.tmp"
        try:
            with open(temporary, "w", encoding="utf-8") as file:
                file.write(payload)
            os.replace(temporary, self.path)
        except OSError as err:
            raise InputError(f"Cannot write {self.path} back: {err.strerror or err}. The reply was not saved.") from None


def _list_providers(out) -> None:
    for p in providers.PROVIDERS.values():
        key = p.key_env or ("no key" if p.key == "none" else f"{FALLBACK_ENV} ({p.key})")
        out.write(f"{p.id:<22} {p.base_url or '(your URL)':<58} {key}\n")


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_key_on_command_line is not None:
        sys.stderr.write("pagellm: bad_input: a key on the command line ends up in shell history and process lists. "
                         "Put it in an environment variable and name it: --api-key-env NAME "
                         f"(or set {FALLBACK_ENV}).\n")
        return 2
    if args.list_providers:
        _list_providers(sys.stdout)
        return 0
    try:
        return asyncio.run(_run(args, sys.stdout, sys.stderr))
    except PagellmError as err:
        sys.stderr.write(_error_line(err) + "\n")
        return exit_status(err)
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.stderr.write("\npagellm: stopped\n")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
