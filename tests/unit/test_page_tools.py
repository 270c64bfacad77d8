"""The worker's half of the page's run_python tool: a call goes to the page as `run-tool`, its
`tool-output` comes back, and the call and its result are kept with the reply."""

from __future__ import annotations

import asyncio
import doctest

import pytest

from pagellm import page_tools
from pagellm.engine import Delta, Final
from pagellm.errors import ToolFailedError
from pagellm.tools import ToolCall, ToolCallEvent, ToolResultEvent
from pagellm.worker import WorkerApp


class ToolEngine:
    """A remote-like engine that calls the first tool it is given, as RemoteEngine's loop does."""

    def __init__(self):
        self.offered = None

    async def load(self, progress=None):
        pass

    async def stream(self, conversation, settings, tools=()):
        self.offered = [t.name for t in tools]
        call = ToolCall("call_1", "run_python", '{"code": "print(6 * 7)"}')
        yield ToolCallEvent(call)
        try:
            output, ok = await tools[0].call(call.arguments), True
        except ToolFailedError as err:
            output, ok = str(err), False
        yield ToolResultEvent(call, output, ok)
        yield Delta(f"Result: {output}")
        yield Final("stop", 3)

    def cancel(self):
        pass


def send(tools, kind="remote"):
    return {"v": 1, "id": "r1", "kind": "send", "text": "Compute", "conversation": {"messages": []}, "settings": {},
            "backend": {"kind": kind, "base_url": "http://x/v1"}, "tools": tools}


async def drive(answer):
    """Send with the tool on; answer the page's run-tool event with `answer` (a dict or None to never answer)."""
    events, engine = [], ToolEngine()
    app = WorkerApp(post=lambda e: e["kind"] == "end" or events.append(e), make_local=None, make_remote=lambda backend: engine)
    task = asyncio.ensure_future(app.handle(send(["run_python"])))
    for _ in range(50):
        await asyncio.sleep(0)
        calls = [e for e in events if e["kind"] == "run-tool"]
        if calls:
            break
    assert calls, events
    await app.handle({"v": 1, "id": "r2", "kind": "tool-output", "call": calls[0]["call"], **answer})
    await task
    return events, engine, calls[0]


def test_a_call_goes_to_the_page_and_its_result_is_saved_with_the_reply():
    events, engine, call = asyncio.run(drive({"ok": True, "output": "42\n"}))
    assert engine.offered == ["run_python"]
    assert call["name"] == "run_python" and call["arguments"] == {"code": "print(6 * 7)"}
    done = events[-1]
    assert done["kind"] == "done", events
    reply = done["conversation"]["messages"][-1]
    assert reply["content"] == "Result: 42\n"
    assert reply["meta"]["tools"] == [{"id": "call_1", "name": "run_python", "arguments": '{"code": "print(6 * 7)"}',
                                       "output": "42\n", "ok": True}]


def test_a_denied_call_is_a_failed_tool_the_model_is_told_about():
    events, _, _ = asyncio.run(drive({"ok": False, "output": "The user declined to run this code."}))
    record = events[-1]["conversation"]["messages"][-1]["meta"]["tools"][0]
    assert record["ok"] is False and "declined to run this code" in record["output"]


def test_stop_answers_a_call_still_waiting_for_approval():
    async def go():
        events, engine = [], ToolEngine()
        app = WorkerApp(post=lambda e: e["kind"] == "end" or events.append(e), make_local=None, make_remote=lambda backend: engine)
        task = asyncio.ensure_future(app.handle(send(["run_python"])))
        while not any(e["kind"] == "run-tool" for e in events):
            await asyncio.sleep(0)
        app.stop()
        await asyncio.wait_for(task, 5)
        return events
    events = asyncio.run(go())
    assert "stopped the reply" in events[-1]["conversation"]["messages"][-1]["meta"]["tools"][0]["output"]


def test_tools_go_only_to_remote_engines_and_unknown_ones_are_refused():
    events, engine = [], ToolEngine()
    app = WorkerApp(post=lambda e: e["kind"] == "end" or events.append(e), make_local=None, make_remote=lambda backend: engine)
    asyncio.run(app.handle(send(["shell"])))
    assert events[-1]["kind"] == "error" and "shell" in events[-1]["message"] and "run_python" in events[-1]["message"]
    app.local = ToolEngine()
    asyncio.run(app.handle(send(["run_python"], kind="local")))
    assert app.tools == [] and app.local.offered == []
    assert not any(e["kind"] == "run-tool" for e in events)


def test_doctests():
    assert doctest.testmod(page_tools).failed == 0
