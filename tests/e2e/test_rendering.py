"""Replies as the page draws them: highlighted code, KaTeX math, tables, long code that scrolls, hostile
markup in and around math that stays inert, the theme, and a 1,000-line code block that streams without
a main-thread task over 50 ms."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import REPLY_TIMEOUT, use_remote
from tests.fake_openai import FakeOpenAI

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "streaming-render.json"

RICH = """Here is $E = mc^2$ inline, and \\(a^2 + b^2 = c^2\\) too; it costs $5 and $10.
Within a sentence, $$e^{i\\pi} + 1 = 0$$ is shown apart.

$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$

\\[\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}\\]

```python
def square(x):
    return x * x  # a comment
```

| language | typing |
|---|---|
| Python | dynamic |
| Rust | static |

```text
""" + "a very long line that must scroll sideways " * 20 + "\n" + "\n".join(f"line {i}" for i in range(80)) + "\n```\n"

# Hostile markup inside math, around it, and in MathML written by hand: none of it may load or run.
HOSTILE = r"""Math $x<img src=x onerror="window.pwned=1">$ and $$\href{javascript:window.pwned=1}{click}$$
and \(\htmlStyle{background:url(http://evil.invalid/a.png)}{y}\) and $\includegraphics{http://evil.invalid/b.png}$.

<math href="javascript:window.pwned=1"><mi>a</mi><mglyph src="http://evil.invalid/c.png"></mglyph>
<maction actiontype="statusline"><mtext>z</mtext><mtext>s</mtext></maction>
<annotation-xml encoding="text/html"><img src=x onerror="window.pwned=1"></annotation-xml>
<mtext><style>*{background:url(http://evil.invalid/d.png)}</style><svg onload="window.pwned=1"></svg></mtext></math>

$y$<iframe src="http://evil.invalid/"></iframe><form action="http://evil.invalid/"><input name=q></form>
<span style="background:url(http://evil.invalid/e.png)" onclick="window.pwned=1">$z$</span>
<math><semantics><mi mathcolor="red" style="color:red" onmouseover="window.pwned=1">q</mi></semantics></math>
"""

FORBIDDEN = ("img, svg, iframe, form, input, script, style, link, object, embed, mglyph, maction, annotation-xml, "
             "[style], [src], [onerror], [onload], [onclick], [onmouseover], math [href]")


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


def echo_reply(chat, fake, text: str):
    """Have the fake server send `text` back ("You said: …") and return the reply's element."""
    chat.open()
    use_remote(chat, fake.base_url("echo"))
    chat.send(text)
    expect(chat.messages("assistant")).to_have_count(1, timeout=REPLY_TIMEOUT)
    chat.wait_state("ready")
    return chat.messages("assistant").last.locator(".content")


def test_code_math_and_tables_are_rendered(chat, fake):
    content = echo_reply(chat, fake, RICH)
    # Math: KaTeX's MathML, inline and display; money stays text.
    expect(content.locator(".katex math")).to_have_count(5)
    expect(content.locator(".math-display math[display=block]")).to_have_count(3)
    expect(content.locator("p span.math-display")).to_have_count(1)  # kept inside its paragraph
    assert "$5 and $10" in content.inner_text()
    assert content.locator("annotation[encoding='application/x-tex']").first.text_content() == "E = mc^2"
    # Code: highlighted by the worker, keeping its language class (the Run button reads it).
    code = content.locator("pre > code.language-python")
    expect(code).to_have_class("language-python hljs", timeout=10_000)
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(code.locator(".hljs-comment")).to_have_text("# a comment")
    # A table, with its header.
    expect(content.locator("table th")).to_have_text(["language", "typing"])
    expect(content.locator("table tbody tr")).to_have_count(2)
    # A long block scrolls both ways inside its height cap instead of stretching the reply.
    box = content.locator("pre:has(code.language-text)").evaluate(
        "(pre) => ({ sw: pre.scrollWidth, cw: pre.clientWidth, sh: pre.scrollHeight, ch: pre.clientHeight,"
        " reply: pre.closest('.message').getBoundingClientRect().width, page: innerWidth })")
    assert box["sw"] > box["cw"] and box["sh"] > box["ch"], box
    assert box["reply"] <= box["page"], box


def test_hostile_markup_in_and_around_math_is_inert(chat, fake, guard):
    content = echo_reply(chat, fake, HOSTILE)
    expect(content.locator(".katex").first).to_be_visible()
    assert content.locator(FORBIDDEN).count() == 0, content.inner_html()
    assert content.locator("a[href^='javascript']").count() == 0
    # Whatever KaTeX made of \href, \htmlStyle and \includegraphics is text, not a link, a style or an image.
    for element in content.locator("*").all():
        for name in element.evaluate("(e) => e.getAttributeNames()"):
            assert not name.startswith("on"), name
    content.locator("math").first.hover()
    chat.page.wait_for_timeout(300)
    assert chat.page.evaluate("window.pwned") is None
    assert not guard.outside


def test_the_theme_is_saved_and_applied(chat):
    chat.open()
    html = chat.page.locator("html")
    expect(html).to_have_attribute("data-theme", "system")
    background = "() => getComputedStyle(document.body).backgroundColor"
    chat.page.emulate_media(color_scheme="dark")
    dark_system = chat.page.evaluate(background)
    chat.page.emulate_media(color_scheme="light")
    light_system = chat.page.evaluate(background)
    assert dark_system != light_system
    chat.by("theme").select_option("dark")
    expect(html).to_have_attribute("data-theme", "dark")
    assert chat.page.evaluate(background) == dark_system  # dark even though the system is light
    chat.page.reload()
    chat.wait_state("ready")
    expect(html).to_have_attribute("data-theme", "dark")
    assert chat.page.evaluate(background) == dark_system
    chat.by("theme").select_option("light")
    chat.page.emulate_media(color_scheme="dark")
    assert chat.page.evaluate(background) == light_system


def main_thread_tasks(trace: bytes) -> list[dict]:
    """The page's main-thread tasks in a Chromium trace: wall time and thread (CPU) time in ms. The
    thread time is what the page's own work costs, whatever else the machine is running."""
    events = json.loads(trace)["traceEvents"]
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    return [{"wall": e["dur"] / 1000, "cpu": e.get("tdur", e["dur"]) / 1000} for e in events
            if e.get("ph") == "X" and e.get("name") == "ThreadControllerImpl::RunTask" and (e["pid"], e["tid"]) in main]


def test_a_streaming_1000_line_code_block_keeps_every_task_under_50_ms(chat, fake):
    chat.open()
    use_remote(chat, fake.base_url("code-lines-1000"))
    chat.set_setting("max-tokens", 32768)
    # The browser's long tasks (over 50 ms of wall time) as the page sees them, and a trace of every task.
    chat.page.evaluate("""() => {
        window.longTasks = [];
        new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks.push(e.duration); })
            .observe({ type: "longtask" });
    }""")
    browser = chat.page.context.browser
    browser.start_tracing(page=chat.page, categories=["toplevel", "devtools.timeline"])
    started = time.monotonic()
    try:
        chat.send("A long program, please")
        expect(chat.messages("assistant")).to_have_count(1, timeout=REPLY_TIMEOUT)
        chat.wait_state("ready")
        code = chat.messages("assistant").last.locator("pre > code.language-python")
        expect(code).to_have_class("language-python hljs", timeout=20_000)
        chat.page.wait_for_timeout(500)  # the highlighted chunks drawn, and a frame after them
    finally:
        tasks = main_thread_tasks(browser.stop_tracing())
    long_tasks = chat.page.evaluate("window.longTasks")
    lines = code.evaluate("(c) => c.textContent.split('\\n').length")
    updates = int(chat.by("stats").get_attribute("data-updates"))
    load = os.getloadavg()[0]
    longest = max(tasks, key=lambda t: t["cpu"])
    RESULTS.write_text(json.dumps({
        "what": "the page's main-thread tasks while the fake server streams a 1,000-line Python block (a line "
                "every 2 ms), until the highlighted block is drawn: tests/e2e/test_rendering.py "
                "(python build.py build && .venv/bin/python -m pytest -q tests/e2e/test_rendering.py -k streaming)",
        "tasks": len(tasks),
        "longest_task_cpu_ms": round(longest["cpu"], 1),
        "longest_task_wall_ms": round(max(t["wall"] for t in tasks), 1),
        "long_tasks_over_50_ms_wall": [round(t) for t in long_tasks],
        "redraws": updates, "lines": lines, "seconds": round(time.monotonic() - started, 1),
        "load_average_1min": round(load, 1), "cpus": os.cpu_count(),
        "browser": browser.version, "machine": f"{platform.machine()}, {platform.system()}",
    }, indent=1) + "\n")
    assert lines >= 1000 and updates >= 10, "the block did not stream"
    # CPU time: on a shared machine the wall time of a task also counts the time others held the cores.
    assert longest["cpu"] < 50, f"a main-thread task took {longest['cpu']:.0f} ms of CPU"
