"""Python code from the chat runs in a disposable sandbox worker: output under the block, a time limit
that ends the worker, bounded output and memory, nothing of the page within reach; and the run_python
tool a remote model calls, shown and approved first, its result kept with the chat."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import REPLY_TIMEOUT, use_remote
from tests.fake_openai import FakeOpenAI

KEY = "sk-pagellm-sandbox-secret-42"
RUN_TIMEOUT = 90_000  # ms: a fresh Pyodide per run, on a busy machine


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


def remote_chat(chat, fake, behaviour="normal", key=None):
    chat.open()
    use_remote(chat, fake.base_url(behaviour), key=key)
    return chat


def user_block(chat, code: str):
    """Send a message holding a Python block; returns the Run panel under it."""
    chat.ask(f"Please check:\n```python\n{code}\n```", max_tokens=None, temperature=None)
    return chat.messages("user").last.get_by_test_id("code-run")


def no_sandbox_left(page, seconds: float = 5) -> bool:
    """True once no sandbox worker is running (a terminated worker's close event may lag a little)."""
    for _ in range(int(seconds * 10)):
        if not any("sandbox-worker.js" in worker.url for worker in page.workers):
            return True
        page.wait_for_timeout(100)
    return False


def test_a_reply_code_block_runs_with_output_value_and_an_editable_copy(chat, fake):
    remote_chat(chat, fake, "code")
    chat.ask("Write some Python", max_tokens=None, temperature=None)
    reply = chat.messages("assistant").last
    expect(reply.get_by_test_id("run-code")).to_have_count(1)  # the Python block only, not the shell one
    reply.get_by_test_id("run-code").click()
    output = reply.get_by_test_id("code-output")
    expect(output).to_have_attribute("data-status", "ok", timeout=RUN_TIMEOUT)
    expect(output).to_contain_text("hello from the sandbox")
    expect(reply.get_by_test_id("code-value")).to_have_text("45")
    # The output is text in its own panel, not part of the model's words.
    assert "hello from the sandbox" not in reply.locator(".content > p").all_inner_texts()
    # The editable copy runs again; an error shows the user's own frames only.
    reply.locator(".code-edit-box summary").click()
    reply.get_by_test_id("code-edit").fill("def f():\n    return 1 / 0\nf()")
    reply.get_by_test_id("run-edited").click()
    expect(output).to_have_attribute("data-status", "error", timeout=RUN_TIMEOUT)
    expect(output).to_contain_text("ZeroDivisionError")
    expect(output).to_contain_text('File "<cell>", line 2, in f')
    assert "_pyodide" not in output.inner_text()
    # Markup in output stays text.
    reply.get_by_test_id("code-edit").fill("print('<b id=injected>bold</b>')")
    reply.get_by_test_id("run-edited").click()
    expect(output).to_have_attribute("data-status", "ok", timeout=RUN_TIMEOUT)
    expect(output).to_contain_text("<b id=injected>bold</b>")
    assert chat.page.locator("#injected").count() == 0
    assert no_sandbox_left(chat.page), "a finished run's worker was not thrown away"


def test_an_endless_loop_hits_the_time_limit_and_the_page_stays_responsive(chat, fake):
    remote_chat(chat, fake)
    chat.set_setting("code-time-limit", 3)
    panel = user_block(chat, "print('started', flush=True)\nwhile True:\n    pass")
    panel.get_by_test_id("run-code").click()
    output = panel.get_by_test_id("code-output")
    expect(output).to_contain_text("started", timeout=RUN_TIMEOUT)
    gap = chat.page.evaluate("""() => new Promise((resolve) => {
        let last = performance.now(), worst = 0, n = 0;
        const timer = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now;
            if (++n === 100) { clearInterval(timer); resolve(worst); } }, 10);
    })""")
    assert gap < 500, f"the page froze for {gap:.0f} ms while the code ran"
    expect(output).to_have_attribute("data-status", "timeout", timeout=20_000)
    expect(output).to_contain_text("Stopped after 3 s, the time limit: the sandbox was shut down.")
    assert no_sandbox_left(chat.page), "the timed-out worker is still running"
    chat.by("prompt").fill("still responsive")
    expect(chat.by("prompt")).to_have_value("still responsive")


def test_a_bad_time_limit_is_refused_with_a_message_and_the_old_one_kept(chat):
    chat.open()
    chat.set_setting("code-time-limit", 0)
    expect(chat.page.locator("#code-settings-note")).to_contain_text("from 1 to 600; it stays 10 s")
    expect(chat.by("code-time-limit")).to_have_attribute("aria-invalid", "true")


def test_megabytes_of_output_are_cut_and_unbounded_memory_is_a_memory_error(chat, fake):
    remote_chat(chat, fake)
    panel = user_block(chat, "for i in range(60_000):\n    print('line', i, 'x' * 80)\n"
                           "held = [bytearray(2**31 - 2**20) for _ in range(3)]  # more than WebAssembly's 4 GB")
    panel.get_by_test_id("run-code").click()
    output = panel.get_by_test_id("code-output")
    expect(output).to_have_attribute("data-status", "error", timeout=RUN_TIMEOUT)
    text = output.inner_text()
    assert "more characters of output not shown (the limit is 100,000)" in text
    assert "MemoryError" in text
    assert len(text) < 110_000


SNOOP = r'''
import inspect, js, pyodide.ffi, pyodide.http
results = []
async def attempt(name, make):
    try:
        value = make()
        if inspect.isawaitable(value) or hasattr(value, "then"):
            value = await value
        results.append(f"{name}: REACHED {str(value)[:60]}")
    except BaseException as err:
        results.append(f"{name}: blocked ({type(err).__name__})")

await attempt("fetch outside", lambda: js.fetch("http://example.com/"))
await attempt("pyfetch outside", lambda: pyodide.http.pyfetch("https://example.org/"))
await attempt("post to this site", lambda: js.fetch("./", pyodide.ffi.to_js({"method": "POST"}, dict_converter=js.Object.fromEntries)))
await attempt("indexedDB", lambda: js.indexedDB.open("pagellm"))
await attempt("indexedDB in the prototypes", lambda: [p for p in [js.Object.getPrototypeOf(js.self)] if js.Reflect.has(p, "indexedDB")][0])
await attempt("caches", lambda: js.caches.keys())
await attempt("origin private files", lambda: js.navigator.storage.getDirectory())
await attempt("localStorage", lambda: js.localStorage.getItem("pagellm:keys"))
await attempt("document", lambda: js.document.body)
await attempt("XMLHttpRequest", lambda: js.XMLHttpRequest.new())
await attempt("WebSocket", lambda: js.WebSocket.new("ws://example.com/"))
await attempt("nested worker", lambda: js.Worker.new("./sandbox-worker.js"))
await attempt("BroadcastChannel", lambda: js.BroadcastChannel.new("pagellm"))
await attempt("service worker", lambda: js.navigator.serviceWorker.ready)
await attempt("eval", lambda: js.eval("1 + 1"))
await attempt("Function", lambda: js.Function.new("return 1")())
await attempt("a function's constructor", lambda: js.Object.getPrototypeOf(js.fetch).constructor.new("return 1")())
await attempt("run_js", lambda: __import__("pyodide.code").code.run_js("1"))
await attempt("timer from source", lambda: js.setTimeout("self.x = 1", 0))
await attempt("this site's files", lambda: js.fetch("./manifest.json").then(lambda r: r.status))
print("\n".join(results))
'''


def test_the_sandbox_reaches_no_key_no_storage_and_no_outside_host(chat, fake, guard):
    remote_chat(chat, fake, key=KEY)
    chat.open_settings()
    chat.page.locator("#remember-key").check()  # the key is now in the page's storage too
    panel = user_block(chat, SNOOP.strip())
    panel.get_by_test_id("run-code").click()
    output = panel.get_by_test_id("code-output")
    expect(output).to_have_attribute("data-status", "ok", timeout=RUN_TIMEOUT)
    lines = output.inner_text().strip().splitlines()
    assert len(lines) == 20, lines
    reached = [line for line in lines if "REACHED" in line]
    assert reached == ["this site's files: REACHED 200"], reached  # the site's public files, nothing else
    assert KEY not in output.inner_text()
    assert not guard.outside


def test_a_remote_model_calls_run_python_with_approval_and_the_result_is_saved(chat, fake):
    remote_chat(chat, fake, "tool-python")
    chat.by("run-python-tool").check()
    chat.send("What is 6 * 7? Use Python.")
    approval = chat.by("tool-approval")
    expect(approval).to_be_visible(timeout=REPLY_TIMEOUT)
    expect(chat.by("tool-code")).to_have_text("print(6 * 7)")  # the code, shown before it runs
    assert not chat.by("code-output").count()
    tools = fake.requests[-1].body["tools"]
    assert [t["function"]["name"] for t in tools] == ["run_python"]
    approval.get_by_test_id("approve").click()
    chat.wait_state("ready")
    reply = chat.messages("assistant").last
    expect(reply.locator(".content")).to_contain_text("Let me run that.")
    expect(reply.locator(".content")).to_contain_text("The sandbox said: 42")
    fed_back = fake.requests[-1].body["messages"]
    assert fed_back[-1]["role"] == "tool" and fed_back[-1]["content"].strip() == "42"
    # The call and its result are part of the saved chat.
    chat.page.reload()
    chat.wait_state("ready", 120_000)
    saved = chat.messages("assistant").last
    expect(saved.get_by_test_id("tool-code")).to_have_text("print(6 * 7)")
    expect(saved.get_by_test_id("tool-output")).to_have_text("42")

    # Denied: the code does not run and the model is told.
    chat.send("Again, please.")
    expect(chat.by("tool-approval")).to_be_visible(timeout=REPLY_TIMEOUT)
    chat.by("tool-approval").get_by_test_id("deny").click()
    chat.wait_state("ready")
    expect(chat.messages("assistant").last.locator(".content")).to_contain_text("declined to run this code")


def test_the_tool_is_off_by_default_and_an_unknown_tool_is_a_typed_error_in_the_chat(chat, fake):
    remote_chat(chat, fake)
    chat.ask("Hi", max_tokens=None, temperature=None)
    assert "tools" not in fake.requests[-1].body
    chat.by("remote-base-url").fill(fake.base_url("tool-unknown"))
    chat.by("run-python-tool").check()
    chat.send("Delete my files")
    expect(chat.by("error")).to_contain_text("delete_files", timeout=REPLY_TIMEOUT)
    chat.wait_state("ready")
    expect(chat.messages("user")).to_have_count(2)
    assert not chat.by("tool-approval").count()
