"""The terminal client: stream a reply from any OpenAI-compatible endpoint.

    python -m pagellm --base-url http://localhost:11434/v1 --model llama3.2 "Why is the sky blue?"
    OPENAI_API_KEY=... python -m pagellm --provider openai --model gpt-4o-mini "Hello"
    python -m pagellm --provider ollama --list-models

The key comes from the environment, never from the command line: ``--api-key-env NAME`` names the
variable; otherwise the provider's own variable (``OPENAI_API_KEY``, ...) is used, but only when the
base URL is that provider's own server, then ``PAGELLM_API_KEY``. The reply goes to stdout as it
streams; errors go to stderr as one line, and the exit status says which kind (see ``errors.py``:
2 bad input or URL, 4 network/server/protocol, 5 key, 130 stopped with Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from typing import Mapping

from . import __version__, providers
from .engine import Delta, Final
from .errors import AuthError, InputError, PagellmError
from .messages import Conversation
from .remote import RemoteEngine, validate_base_url
from .settings import GenerationSettings

__all__ = ["main", "resolve_key", "build_parser"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FALLBACK_ENV = "PAGELLM_API_KEY"


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
        if not prompt and not sys.stdin.isatty():
            prompt = sys.stdin.read().strip()
        conversation = Conversation(system_prompt=args.system)
        conversation.add_user(prompt)
        settings = _settings(args)
        await engine.load()
        wrote_text = in_reasoning = False
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
                wrote_text = True
            elif isinstance(event, Final):
                if wrote_text:
                    out.write("\n")
                    out.flush()
                if args.stats:
                    rate = f", {event.tokens_per_second:.1f} tok/s" if event.tokens_per_second else ""
                    ttft = f", first token {event.time_to_first_token:.2f} s" if event.time_to_first_token is not None else ""
                    err.write(f"pagellm: {event.completion_tokens} tokens in {event.total_time:.2f} s{ttft}{rate} "
                              f"(finish: {event.finish_reason})\n")
                if event.finish_reason == "cancelled":
                    err.write("pagellm: stopped\n")
                    return 130
                if event.finish_reason == "length":
                    err.write("pagellm: the reply reached --max-tokens and was cut there\n")
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
        return err.exit_status
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.stderr.write("\npagellm: stopped\n")
        return 130
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
