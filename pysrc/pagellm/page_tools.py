"""Tools whose work happens in the page: the worker hands each call to the page and awaits its answer.

The page shows the call, asks the user's approval and runs the code in its Python sandbox
(web/sandbox.js); Python only sees the result. A call is posted as a ``protocol.RunTool`` and
answered with a ``protocol.ToolOutput``; ``ok`` false (denied, stopped) makes the call fail, which the
model is told.

    >>> import asyncio
    >>> posted = []
    >>> tools = PageTools(posted.append)
    >>> [t.name for t in tools.offered(["run_python"])]
    ['run_python']
    >>> async def demo():
    ...     call = asyncio.ensure_future(tools.offered(["run_python"])[0].call('{"code": "print(42)"}'))
    ...     await asyncio.sleep(0)
    ...     tools.resolve(ToolOutput(call=posted[-1].call, ok=True, output="42"))
    ...     return await call
    >>> asyncio.run(demo()), posted[-1].arguments
    ('42', {'code': 'print(42)'})
"""

from __future__ import annotations

import asyncio
from typing import Callable

from .errors import InputError, ToolFailedError
from .protocol import RunTool, ToolOutput
from .tools import Tool, tool


class PageToolRefused(ToolFailedError):
    """The page did not run the call (the user denied it, or the reply was stopped): the model is told
    the page's own words."""

    code = "tool_refused"


class PageTools:
    def __init__(self, emit: Callable[[RunTool], None]):
        self.emit = emit
        self.pending: dict[str, asyncio.Future] = {}
        self.count = 0

        @tool
        async def run_python(code: str) -> str:
            """Run Python code in a sandbox in the user's browser and get back what it printed, any error,
            and the value of its last expression. The standard library only; no network, no files, a time
            limit of a few seconds. The user sees the code and approves each run.

            Args:
                code: the Python source to run
            """
            return await self.ask("run_python", {"code": code})

        self.tools = {"run_python": run_python}

    def offered(self, names: list) -> list[Tool]:
        """The tools a request names; an unknown name is bad input, not a silent omission."""
        unknown = [name for name in names if name not in self.tools]
        if unknown:
            raise InputError(f"The page asked for tools this worker does not have: {', '.join(map(str, unknown))} "
                             f"(it has {', '.join(self.tools)}).")
        return [self.tools[name] for name in names]

    async def ask(self, name: str, arguments: dict) -> str:
        self.count += 1
        call_id = f"page-call-{self.count}"
        future = asyncio.get_running_loop().create_future()
        self.pending[call_id] = future
        self.emit(RunTool(call=call_id, name=name, arguments=arguments))
        try:
            ok, output = await future
        finally:
            self.pending.pop(call_id, None)
        if not ok:
            raise PageToolRefused(output)
        return output

    def resolve(self, result: ToolOutput) -> None:
        future = self.pending.get(result.call)
        if future is not None and not future.done():
            future.set_result((bool(result.ok), str(result.output or "")))

    def cancel_all(self, reason: str) -> None:
        """Answer every call still waiting for the page (the reply was stopped)."""
        for future in self.pending.values():
            if not future.done():
                future.set_result((False, reason))
