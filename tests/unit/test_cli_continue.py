"""``python -m pagellm --continue FILE``: carry on a chat exported from the page and write it back."""

from __future__ import annotations

import io
import json
import sys

import pytest

from pagellm import Conversation
from pagellm.cli import main as cli_main
from pagellm.transfer import export_json, import_json
from tests.fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


def run(fake, args, monkeypatch, capsys, model="echo"):
    for name in ("OPENAI_API_KEY", "PAGELLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = cli_main(["--base-url", fake.base_url(), "--model", model, *args])
    out, err = capsys.readouterr()
    return code, out, err


def page_export(tmp_path, *chats, settings=None):
    path = tmp_path / "chat.json"
    path.write_text(export_json(list(chats), settings=settings))
    return path


def branched_chat() -> Conversation:
    chat = Conversation(title="Trip", id="trip")
    first = chat.add_user("Plan a trip")
    chat.add_assistant("Go to Lyon.")
    chat.edit(first.id, "Plan a cheap trip")
    chat.add_assistant("Take the bus", status="stopped")
    return chat


def test_a_new_message_is_answered_on_the_visible_branch_and_the_file_written_back(fake, tmp_path, monkeypatch, capsys):
    path = page_export(tmp_path, branched_chat(), settings={"temperature": 0.3})
    code, out, err = run(fake, ["--continue", str(path), "Where", "to?"], monkeypatch, capsys)
    assert (code, out) == (0, "You said: Where to?\n") and "added to" in err
    sent = fake.requests[-1].body["messages"]
    assert [m["content"] for m in sent] == ["Plan a cheap trip", "Take the bus", "Where to?"]
    [chat] = import_json(path.read_text())
    assert [m.content for m in chat.messages] == ["Plan a cheap trip", "Take the bus", "Where to?", "You said: Where to?"]
    assert chat.messages[-1].status == "complete" and len(chat.nodes) == 6  # the other branch is kept
    assert json.loads(path.read_text())["conversations"][0]["settings"] == {"temperature": 0.3}


def test_without_a_prompt_a_cut_reply_is_continued_from_its_text(fake, tmp_path, monkeypatch, capsys):
    path = page_export(tmp_path, branched_chat())
    code, out, _ = run(fake, ["--continue", str(path)], monkeypatch, capsys)
    assert code == 0
    assert fake.requests[-1].body["messages"][-1] == {"role": "assistant", "content": "Take the bus"}
    [chat] = import_json(path.read_text())
    assert chat.messages[-1].content == "Take the bus" + out.rstrip("\n")
    assert len(chat.messages) == 2 and chat.messages[-1].status == "complete"
    code, _, err = run(fake, ["--continue", str(path)], monkeypatch, capsys)
    assert code == 2 and "nothing to continue" in err


def test_a_backup_needs_the_chat_named_and_bad_files_change_nothing(fake, tmp_path, monkeypatch, capsys):
    other = Conversation(title="Other", id="other")
    other.add_user("hi")
    path = page_export(tmp_path, branched_chat(), other)
    before = path.read_text()
    code, _, err = run(fake, ["--continue", str(path), "next"], monkeypatch, capsys)
    assert code == 2 and "--chat ID" in err and "trip (Trip)" in err
    code, _, err = run(fake, ["--continue", str(path), "--chat", "nope", "next"], monkeypatch, capsys)
    assert code == 2 and "no chat" in err
    assert path.read_text() == before
    code, _, _ = run(fake, ["--continue", str(path), "--chat", "Other", "next"], monkeypatch, capsys)
    assert code == 0
    trip, other = import_json(path.read_text())
    assert [m.content for m in trip.nodes] == [m.content for m in branched_chat().nodes]
    assert [m.content for m in other.messages] == ["hi", "", "next", "You said: next"]
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"format": "pagellm.conversations", "version": 7, "conversations": []}))
    code, _, err = run(fake, ["--continue", str(newer), "x"], monkeypatch, capsys)
    assert code == 2 and "newer pagellm" in err
    code, _, err = run(fake, ["--continue", str(tmp_path / "missing.json"), "x"], monkeypatch, capsys)
    assert code == 2 and "Cannot read" in err


def test_an_error_mid_reply_keeps_the_partial_text_in_the_file(fake, tmp_path, monkeypatch, capsys):
    path = page_export(tmp_path, branched_chat())
    code, out, err = run(fake, ["--continue", str(path), "go on"], monkeypatch, capsys, model="error-mid")
    assert code == 4
    [chat] = import_json(path.read_text())
    reply = chat.messages[-1]
    assert reply.status == "error" and reply.content == out.strip() and reply.meta["error"]
