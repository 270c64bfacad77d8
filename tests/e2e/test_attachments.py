"""Files in a chat (local tiny model, the site's embedding model): attach, see and remove chips, ask
with them, citations that open the file at the cited place, bad files refused by name with nothing
lost, file content shown as text, and everything back after a reload."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.helpers import BOOT_TIMEOUT
from tests.e2e.test_conversations import GET_RECORDS

NOTES = ("Trip notes. The night train to Vienna leaves Lyon at 21:40 from platform 7. "
         "Bring the museum pass for Tuesday.\n")


def attach(chat, name: str, data: bytes, mime: str = "text/plain") -> None:
    chat.by("attach").set_input_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def draft_chips(chat):
    return chat.page.locator("#draft-attachments [data-testid=attachment]")


def test_attach_remove_ask_with_a_file_and_find_it_again_after_a_reload(chat):
    chat.open()
    attach(chat, "extra.md", b"# Unneeded\n\nNot this one.")
    attach(chat, "notes.txt", NOTES.encode())
    expect(draft_chips(chat)).to_have_count(2, timeout=60_000)
    draft_chips(chat).filter(has_text="extra.md").get_by_test_id("remove-attachment").click()
    expect(draft_chips(chat)).to_have_count(1)
    draft_chips(chat).first.get_by_test_id("open-attachment").click()
    expect(chat.by("viewer-text")).to_contain_text("platform 7")
    chat.page.locator("#viewer-close").click()

    chat.ask("When does the night train leave?", max_tokens=8)
    expect(draft_chips(chat)).to_have_count(0)
    question = chat.messages("user").last
    expect(question.get_by_test_id("attachment")).to_have_count(1)
    expect(question.get_by_test_id("attachment")).to_contain_text("notes.txt")
    reply = chat.messages("assistant").last
    expect(reply.get_by_test_id("citation")).to_have_count(1)
    expect(reply.get_by_test_id("citation")).to_contain_text("notes.txt")

    saved = [m for record in chat.page.evaluate(GET_RECORDS) for m in record["messages"] if m.get("attachments")]
    index = saved[0]["attachments"][0]["index"]
    assert index["model"] == "all-minilm-l6-v2" and index["dims"] == 384 and index["vectors"]  # embedded in the page

    chat.page.reload()
    chat.wait_state("ready", BOOT_TIMEOUT)
    expect(chat.messages("user").last.get_by_test_id("attachment")).to_have_count(1)
    expect(chat.messages("assistant").last.get_by_test_id("citation")).to_have_count(1)


def test_a_long_file_gives_numbered_passages_that_open_at_their_place(chat):
    chat.open()
    filler = "".join(f"Section {i}. The committee discussed budget line {i} and agreed to revisit it later.\n" for i in range(400))
    secret = "The lighthouse keeper's cat is named Biscuit and sleeps in the lantern room.\n"
    attach(chat, "minutes.txt", (filler[: len(filler) // 2] + secret + filler[len(filler) // 2:]).encode())
    expect(draft_chips(chat)).to_have_count(1, timeout=120_000)
    chat.ask("What is the lighthouse keeper's cat named?", max_tokens=6)
    citations = chat.messages("assistant").last.get_by_test_id("citation")
    expect(citations.first).to_be_attached()
    assert 1 < citations.count() <= 8
    found = citations.filter(has_text="Biscuit")
    expect(found).to_have_count(1)  # the passage holding the answer was retrieved
    chat.messages("assistant").last.locator("details.citations > summary").click()
    found.locator("blockquote").click()
    found.get_by_test_id("open-citation").click()
    expect(chat.page.locator("#viewer-text mark")).to_contain_text("Biscuit")


def test_bad_files_are_refused_by_name_and_the_draft_is_kept(chat):
    chat.open()
    chat.by("prompt").fill("My unsent question")
    attach(chat, "photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    expect(chat.by("error")).to_contain_text("photo.txt cannot be attached", timeout=60_000)
    attach(chat, "latin.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"))
    expect(chat.by("error")).to_contain_text("latin.txt")
    attach(chat, "program.exe", b"MZ\x90\x00")
    expect(chat.by("error")).to_contain_text("program.exe")
    expect(draft_chips(chat)).to_have_count(0)
    expect(chat.by("prompt")).to_have_value("My unsent question")


def test_file_content_is_text_never_markup(chat):
    chat.open()
    hostile = b'<img src=x onerror="document.title=\'owned\'"><script>document.title="owned"</script> Plain words.'
    attach(chat, "page.html", hostile, "text/html")
    attach(chat, "raw.txt", hostile)
    expect(draft_chips(chat)).to_have_count(2, timeout=60_000)
    draft_chips(chat).filter(has_text="raw.txt").get_by_test_id("open-attachment").click()
    expect(chat.by("viewer-text")).to_contain_text("<img src=x")
    assert chat.page.locator("#viewer img, #viewer script").count() == 0
    chat.page.locator("#viewer-close").click()
    draft_chips(chat).filter(has_text="page.html").get_by_test_id("open-attachment").click()
    expect(chat.by("viewer-text")).to_contain_text("Plain words.")
    expect(chat.by("viewer-text")).not_to_contain_text("document.title")  # HTML is read as its visible text
    assert chat.page.title() != "owned"


def test_a_pdf_is_read_page_by_page_and_a_scan_is_refused(chat):
    from tests.pdf_maker import make_pdf

    chat.open()
    attach(chat, "report.pdf", make_pdf([["Quarterly report."], ["Revenue grew by 12 percent in spring."]]), "application/pdf")
    expect(draft_chips(chat)).to_have_count(1, timeout=120_000)
    expect(draft_chips(chat).first).to_contain_text("2 pages")
    attach(chat, "scan.pdf", make_pdf([[]], drawing=True), "application/pdf")
    expect(chat.by("error")).to_contain_text("scan.pdf")
    expect(draft_chips(chat)).to_have_count(1)


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


def test_files_and_images_go_to_a_remote_model_and_the_local_one_refuses_images(chat):
    from tests.e2e.helpers import use_remote
    from tests.fake_openai import FakeOpenAI

    chat.open()
    attach(chat, "dot.png", PNG, "image/png")
    expect(draft_chips(chat)).to_have_count(1, timeout=60_000)
    chat.send("What is in the picture?")
    expect(chat.by("error")).to_contain_text("dot.png", timeout=60_000)
    expect(chat.by("error")).to_contain_text("text only")
    with FakeOpenAI() as fake:
        use_remote(chat, fake.base_url())
        attach(chat, "notes.txt", NOTES.encode())
        expect(draft_chips(chat)).to_have_count(2, timeout=60_000)
        chat.ask("Describe both files.", max_tokens=None, temperature=None)
        body = fake.requests[-1].body
        content = body["messages"][-1]["content"]
        parts = {part["type"]: part for part in content}
        assert "platform 7" in parts["text"]["text"] and "<attachments>" in parts["text"]["text"]
        assert parts["image_url"]["image_url"]["url"].startswith("data:image/png;base64,")
