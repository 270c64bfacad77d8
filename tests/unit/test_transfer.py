"""Export and import: round trips, and damaged files refused with a message that says where."""

from __future__ import annotations

import json

import pytest

from pagellm import Conversation
from pagellm.errors import InputError
from pagellm.transfer import export_json, export_markdown, import_json


def sample() -> Conversation:
    chat = Conversation(system_prompt="Be brief.", title="Capitals")
    chat.add_user("Capital of France?")
    chat.add_assistant("Paris.").meta["stats"] = {"completion_tokens": 2}
    chat.add_user("And Spain?")
    chat.add_assistant("Mad", status="stopped")
    return chat


def test_json_round_trip_keeps_everything():
    chat = sample()
    text = export_json([chat], settings={"temperature": 0.2})
    payload = json.loads(text)
    assert payload["conversations"][0]["openai_messages"][0] == {"role": "system", "content": "Be brief."}
    assert payload["conversations"][0]["settings"] == {"temperature": 0.2}
    again = import_json(text)
    assert [c.to_dict() for c in again] == [chat.to_dict()]


def test_a_bare_list_of_openai_messages_imports():
    [chat] = import_json(json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]))
    assert [m.role for m in chat.messages] == ["user", "assistant"]


@pytest.mark.parametrize("text,message", [
    ("{not json", "not valid JSON"),
    ('{"format": "something-else"}', "not a pagellm export"),
    ('{"format": "pagellm.conversations", "version": 9, "conversations": []}', "version 9"),
    ('{"format": "pagellm.conversations", "version": 1, "conversations": []}', "no conversations"),
    ('{"format": "pagellm.conversations", "version": 1, "conversations": [{"messages": []}, '
     '{"messages": [{"role": "hacker", "content": "x"}]}]}', "Conversation 2 of the file is damaged"),
])
def test_damaged_files_are_refused_with_a_clear_message(text, message):
    with pytest.raises(InputError, match=message):
        import_json(text)


def test_markdown_marks_stopped_replies_and_errors():
    chat = sample()
    chat.messages[-1].meta["error"] = "The server went away."
    text = export_markdown([chat, Conversation(title="Other")])
    assert text.startswith("# Capitals\n\n> System: Be brief.")
    assert "**Assistant** (stopped):" in text and "> Error: The server went away." in text
    assert "\n---\n\n# Other" in text
