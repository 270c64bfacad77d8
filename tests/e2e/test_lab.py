"""The notebook lab (dist/lab/): its tutorial runs end to end on the bundled model, offline after one visit."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from playwright.sync_api import Page, expect

from tests.e2e.helpers import BOOT_TIMEOUT, ChatPage
from tests.fake_openai import FakeOpenAI
from tests.guard import LOCAL_HOSTS

KERNEL_TIMEOUT = 120_000  # ms: Pyodide, IPython and jedi on a busy 2-core machine
CELL_TIMEOUT = 120_000
API_KEY = "sk-lab-test-5e1f"


class Lab:
    """The JupyterLab page, driven through its own UI."""

    def __init__(self, page: Page):
        self.page = page
        # The notebook in front (after a reload the lab also restores the ones open before).
        self.panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    def wait_ui(self) -> None:
        expect(self.page.locator(".jp-DirListing-content")).to_be_visible(timeout=BOOT_TIMEOUT)

    def open_notebook(self, name: str) -> None:
        self.page.locator(".jp-DirListing-item", has_text=name).dblclick()
        # Run All before the kernel is ready is dropped. The indicator says "idle" for a moment before
        # the kernel starts, then "unknown" while Pyodide and IPython load, then "idle": wait for both.
        indicator = self.panel.locator(".jp-Notebook-ExecutionIndicator")
        expect(indicator).to_have_attribute("data-status", re.compile("unknown|starting|busy"), timeout=KERNEL_TIMEOUT)
        expect(indicator).to_have_attribute("data-status", "idle", timeout=KERNEL_TIMEOUT)

    def run_all(self) -> None:
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
        self.page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()

    def output(self, code: str):
        """The outputs of the code cell whose source contains `code`."""
        cell = self.panel.locator(".jp-CodeCell").filter(has=self.page.locator(".jp-InputArea", has_text=code))
        return cell.locator(".jp-OutputArea")

    def answer_input(self, prompt: str, value: str) -> None:
        stdin = self.page.locator(".jp-Stdin").filter(has_text=prompt).locator("input")
        expect(stdin).to_be_visible(timeout=CELL_TIMEOUT)
        stdin.fill(value)
        stdin.press("Enter")


def record_requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.context.on("request", lambda request: urls.append(request.url))
    return urls


def outside(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("data:", "blob:")) and urlparse(u).hostname not in LOCAL_HOSTS]


def test_the_tutorial_runs_on_the_bundled_model_and_a_remote_endpoint_then_offline(page, guard, console, site):
    requests = record_requests(page)
    chat = ChatPage(page, site).open("model=tiny-random&device=wasm", wait_ready=False)
    page.get_by_test_id("notebook-link").click()
    lab = Lab(page)
    lab.wait_ui()
    lab.open_notebook("pagellm-tutorial.ipynb")
    with FakeOpenAI(api_key=API_KEY) as server:
        lab.run_all()
        expect(lab.output("%pip install")).not_to_contain_text("rror", timeout=CELL_TIMEOUT)
        expect(lab.output("nb.load_local")).to_contain_text("loaded in", timeout=CELL_TIMEOUT)
        expect(lab.output("nb.load_local")).to_contain_text("on wasm (q8)")
        answer = lab.output('nb.ask("What is the capital of France?")')
        expect(answer).to_contain_text("tok/s]", timeout=CELL_TIMEOUT)
        expect(answer).to_contain_text("Paris")
        expect(lab.output("Name three colours")).to_contain_text("tok/s", timeout=CELL_TIMEOUT)
        expect(lab.output("a long story about a dragon")).to_contain_text("[cancelled after", timeout=CELL_TIMEOUT)
        expect(lab.output("GenerationSettings(temperature=5)")).to_contain_text(
            "Refused: temperature must be between 0 and 2", timeout=CELL_TIMEOUT)
        expect(lab.output("%%chat")).to_contain_text("tok/s]", timeout=CELL_TIMEOUT)  # streamed by the magic
        # Part 2: the key is typed into a password field, sent to the server, and kept out of the notebook.
        lab.answer_input("Base URL", server.base_url())
        lab.answer_input("Model", "fake-model")
        lab.answer_input("API key", API_KEY)
        expect(lab.output("RemoteEngine(")).to_contain_text("The quick brown fox jumps over the lazy dog.",
                                                            timeout=CELL_TIMEOUT)
        expect(lab.output("RemoteEngine(")).to_contain_text("tok/s]", timeout=CELL_TIMEOUT)
        assert server.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"
        # The last cell ends: the kernel is idle again while the endpoint is still up.
        expect(lab.panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=90_000)  # a busy machine: the kernel reports late
    assert "Traceback" not in lab.panel.inner_text()
    assert API_KEY not in page.content()
    # The kernel's synchronous calls all got their answers (pagellm-lab.js: Atomics.waitAsync).
    assert not [line for line in console if line.startswith("pageerror")], console

    # Offline: the visit kept the lab (and the model it loaded); the other notebook runs with the network cut.
    expect(page.locator("html")).to_have_attribute("data-pagellm-offline", "ready", timeout=CELL_TIMEOUT)
    page.context.set_offline(True)
    try:
        page.reload()
        lab.wait_ui()
        lab.open_notebook("continue-a-chat.ipynb")
        lab.run_all()
        expect(lab.output("nb.open_chat")).to_contain_text("How many people live there?", timeout=CELL_TIMEOUT)
        expect(lab.output("famous museum")).to_contain_text("tok/s]", timeout=CELL_TIMEOUT)
        expect(lab.output("continued-chat.json")).to_contain_text("Saved continued-chat.json", timeout=CELL_TIMEOUT)
        assert "Traceback" not in lab.panel.inner_text()
    finally:
        page.context.set_offline(False)
    page.get_by_test_id("back-to-chat").click()
    chat.wait_state("ready", BOOT_TIMEOUT)
    assert outside(requests) == []


def test_a_chat_visit_does_not_fetch_the_lab(chat):
    chat.open()
    expect(chat.page.locator("html")).to_have_attribute("data-offline", "ready", timeout=BOOT_TIMEOUT)
    chat.page.reload()  # now controlled: the install has finished
    chat.wait_state("ready", BOOT_TIMEOUT)
    cached = chat.page.evaluate("""async () => {
        const urls = [];
        for (const name of await caches.keys()) for (const r of await (await caches.open(name)).keys()) urls.push(r.url);
        return urls;
    }""")
    assert [u for u in cached if "/pyodide/" in u], "the shell was not cached"
    assert not [u for u in cached if "/lab/" in u], "a chat visit fetched the lab"
