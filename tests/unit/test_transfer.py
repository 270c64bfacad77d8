"""Export and import: round trips, and damaged files refused with a message that says where."""

from __future__ import annotations

import json

import pytest

from pagellm import Conversation
from pagellm.errors import InputError
from pagellm.transfer import export_json, export_markdown, import_json, merge


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
    ('{"format": "pagellm.conversations", "version": 9, "conversations": []}', "format version 9"),
    ('{"format": "pagellm.conversations", "version": "x", "conversations": []}', "version 'x'"),
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


def test_a_version_1_file_imports_unchanged_as_one_branch():
    v1 = {"format": "pagellm.conversations", "version": 1, "conversations": [{"id": "c", "title": "T", "messages": [
        {"role": "user", "content": "q", "status": "complete", "created": 1.0},
        {"role": "assistant", "content": "a", "status": "complete", "created": 2.0}]}]}
    [chat] = import_json(json.dumps(v1))
    assert [(m.role, m.content, m.created) for m in chat.messages] == [("user", "q", 1.0), ("assistant", "a", 2.0)]
    assert json.loads(export_json([chat]))["version"] == 2


def test_a_newer_file_is_refused_by_name_and_nothing_is_imported():
    newer = {"format": "pagellm.conversations", "version": 3, "conversations": [sample().to_dict()]}
    with pytest.raises(InputError, match=r"newer pagellm \(format version 3\).*Nothing was imported"):
        import_json(json.dumps(newer))


def test_a_damaged_tree_in_a_backup_names_the_chat_and_the_message():
    good, bad = sample().to_dict(), sample().to_dict()
    bad["messages"][1]["parent"] = "gone"
    text = json.dumps({"format": "pagellm.conversations", "version": 2, "conversations": [good, bad]})
    with pytest.raises(InputError, match="Conversation 2 of the file is damaged: Message 2 .* answers 'gone'"):
        import_json(text)


def test_merge_adds_new_skips_same_and_copies_a_changed_chat_under_a_new_id():
    saved = [sample(), sample()]
    changed = Conversation.from_dict(saved[1].to_dict())
    changed.messages[-1].content = "Madrid."
    fresh = sample()
    result = merge(saved, [Conversation.from_dict(saved[0].to_dict()), changed, fresh])
    assert result.unchanged == 1 and result.copies == 1
    assert [c.id for c in result.add][1] == fresh.id
    copy = result.add[0]
    assert copy.id not in {c.id for c in saved} and copy.title == "Capitals (imported copy)"
    assert copy.messages[-1].content == "Madrid." and saved[1].messages[-1].content == "Mad"
    assert "1 as copies" in result.summary() and "1 already here unchanged" in result.summary()
