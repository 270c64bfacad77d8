"""The conversation tree: branching, switching, deleting, continuing, the saved form and its migration."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagellm import Conversation
from pagellm.errors import InputError


def chat_with_two_branches() -> tuple[Conversation, str, str]:
    chat = Conversation(system_prompt="S")
    first = chat.add_user("one")
    chat.add_assistant("reply one")
    chat.add_user("two")
    chat.add_assistant("reply two")
    edited = chat.edit(first.id, "one, edited")
    chat.add_assistant("reply to the edit")
    return chat, first.id, edited.id


def contents(chat: Conversation) -> list[str]:
    return [m.content for m in chat.messages]


def test_an_edit_is_a_new_branch_and_switching_back_shows_the_old_one_whole():
    chat, first, edited = chat_with_two_branches()
    assert contents(chat) == ["one, edited", "reply to the edit"]
    assert chat.position(edited) == (2, 2) and chat.position(first) == (1, 2)
    chat.switch(edited, -1)
    assert contents(chat) == ["one", "reply one", "two", "reply two"]
    assert chat.for_model()[-1] == {"role": "assistant", "content": "reply two"}
    chat.switch(first, 1)
    assert contents(chat) == ["one, edited", "reply to the edit"]
    with pytest.raises(InputError, match="no branch 3"):
        chat.switch(edited, 1)


def test_switching_remembers_the_choice_made_deeper_in_a_branch():
    chat = Conversation()
    first = chat.add_user("q")
    a = chat.add_assistant("a")
    chat.regenerate(a.id)
    b = chat.add_assistant("b")
    chat.edit(first.id, "q2")
    chat.switch(chat.messages[0].id, -1)  # back to "q": its last choice was reply "b"
    assert contents(chat) == ["q", "b"]
    chat.switch(b.id, -1)
    assert contents(chat) == ["q", "a"]


def test_a_path_ending_at_a_question_being_answered_again_comes_back_so_after_switching():
    chat = Conversation()
    first = chat.add_user("q")
    chat.add_assistant("a")
    chat.add_user("q2")
    chat.add_assistant("a2")
    edited = chat.edit(first.id, "q, edited")
    chat.switch(edited.id, -1)
    chat.regenerate(chat.messages[1].id)
    assert contents(chat) == ["q"]
    chat.switch(first.id, 1)
    chat.switch(edited.id, -1)
    assert contents(chat) == ["q"]
    again = Conversation.from_dict(json.loads(json.dumps(chat.to_dict())))
    again.switch(first.id, 1)
    again.switch(edited.id, -1)
    assert contents(again) == ["q"]


def test_regenerate_any_reply_adds_a_sibling_and_the_path_ends_at_its_question():
    chat, first, edited = chat_with_two_branches()
    chat.switch(edited, -1)
    old = chat.messages[1]
    question = chat.regenerate(old.id)
    assert question.id == first and chat.last.id == first
    new = chat.add_assistant("another reply one")
    assert chat.position(new.id) == (2, 2) and [m.content for m in chat.siblings(new.id)] == ["reply one", "another reply one"]
    with pytest.raises(InputError, match="Only a reply"):
        chat.regenerate(first)


def test_delete_removes_a_message_and_what_follows_and_moves_to_a_sibling():
    chat, first, edited = chat_with_two_branches()
    removed = chat.delete(edited)
    assert [m.content for m in removed] == ["one, edited", "reply to the edit"]
    assert contents(chat) == ["one", "reply one", "two", "reply two"]
    chat.delete(chat.messages[2].id)
    assert contents(chat) == ["one", "reply one"]
    chat.delete(first)
    assert chat.messages == [] and chat.nodes == []
    with pytest.raises(InputError, match="no message"):
        chat.delete(first)


def test_continue_only_a_cut_reply_at_the_end_of_its_branch():
    chat = Conversation()
    chat.add_user("q")
    cut = chat.add_assistant("Once upon", status="stopped")
    assert chat.continue_reply(cut.id) is cut
    assert chat.for_model()[-1] == {"role": "assistant", "content": "Once upon"}
    chat.add_user("next")
    with pytest.raises(InputError, match="already has an answer"):
        chat.continue_reply(cut.id)
    whole = chat.add_assistant("Done.")
    with pytest.raises(InputError, match="complete"):
        chat.continue_reply(whole.id)
    whole.meta["stats"] = {"finish_reason": "length"}
    assert chat.continue_reply().id == whole.id


def test_an_unanswered_question_gets_an_interrupted_empty_reply_before_the_next():
    chat = Conversation()
    chat.add_user("lost in a reload")
    chat.add_user("again")
    assert [(m.role, m.status) for m in chat.messages] == [
        ("user", "complete"), ("assistant", "interrupted"), ("user", "complete")]
    assert [m["content"] for m in chat.for_model()] == ["lost in a reload", "again"]
    with pytest.raises(InputError, match="answers a user message"):
        Conversation().add_assistant("nobody asked")


def test_the_path_list_pops_and_appends_on_the_tree():
    chat = Conversation()
    chat.add_user("q")
    chat.add_assistant("a")
    chat.messages.pop()
    assert contents(chat) == ["q"] and len(chat.nodes) == 1
    with pytest.raises(InputError, match="methods"):
        chat.messages.insert(0, chat.messages[0])


def test_version_1_data_reads_as_one_branch_with_the_same_content():
    v1 = {"id": "c1", "title": "Old", "system_prompt": "S", "updated": 5,
          "messages": [{"role": "user", "content": "q", "status": "complete", "created": 1.0},
                       {"role": "assistant", "content": "a", "status": "stopped", "created": 2.0, "meta": {"x": 1}}]}
    chat = Conversation.from_dict(v1)
    assert [(m.id, m.parent, m.role, m.content, m.status, m.created, m.meta) for m in chat.messages] == [
        ("m1", None, "user", "q", "complete", 1.0, {}), ("m2", "m1", "assistant", "a", "stopped", 2.0, {"x": 1})]
    again = Conversation.from_dict(json.loads(json.dumps(chat.to_dict())))
    assert again == chat and again.to_dict()["version"] == 2


@pytest.mark.parametrize("change,message", [
    ({"version": 3}, "newer pagellm"),
    ({"version": "2"}, "Unknown saved form version"),
    ({"messages": [{"id": "a", "parent": "zz", "role": "user", "content": "x"}]}, "not an earlier message"),
    ({"messages": [{"id": "a", "role": "user", "content": "x"}, {"id": "a", "role": "user", "content": "y"}]}, "used twice"),
    ({"messages": [{"id": "", "role": "user", "content": "x"}]}, "non-empty string"),
    ({"current": "nope"}, "not one of its messages"),
    ({"chosen": {"": "nope"}}, "does not answer"),
])
def test_damaged_saved_trees_are_refused_saying_what_is_wrong(change, message):
    data = {**chat_with_two_branches()[0].to_dict(), **change}
    with pytest.raises(InputError, match=message):
        Conversation.from_dict(data)


# ---------------------------------------------------------------------------------------------
# Invariants, for any sequence of what a user can do.
OPS = ("send", "reply", "edit", "regenerate", "continue", "switch", "delete", "show", "stop")
op = st.tuples(st.sampled_from(OPS), st.integers(0, 40), st.sampled_from([-1, 1]),
               st.text(alphabet="ab \n", min_size=0, max_size=4))


def apply(chat: Conversation, name: str, pick: int, step: int, text: str) -> None:
    nodes = chat.nodes
    target = nodes[pick % len(nodes)].id if nodes else "none"
    if name == "send":
        chat.add_user(text)
    elif name == "reply":
        chat.add_assistant(text or "r")
    elif name == "stop":
        chat.add_assistant(text or "r", status="stopped")
    elif name == "edit":
        chat.edit(target, text)
    elif name == "regenerate":
        chat.regenerate(target)
    elif name == "continue":
        chat.continue_reply(target)
    elif name == "switch":
        chat.switch(target, step)
    elif name == "delete":
        chat.delete(target)
    elif name == "show":
        chat.show(target)


def assert_whole(chat: Conversation) -> None:
    path = chat.messages
    roles = [m.role for m in path]
    assert all(role == ("user" if i % 2 == 0 else "assistant") for i, role in enumerate(roles)), roles
    for parent, child in zip([None] + [m.id for m in path], path):
        assert child.parent == parent
    assert chat.last is (path[-1] if path else None)
    ids = {m.id for m in chat.nodes}
    assert all(m.parent is None or m.parent in ids for m in chat.nodes)
    assert [m["content"] for m in chat.for_model()] == [m.content for m in path if m.content and m.status != "error"]


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=30))
def test_any_sequence_keeps_the_path_alternating_and_a_refused_step_changes_nothing(ops):
    chat = Conversation()
    for name, pick, step, text in ops:
        before = chat.to_dict()
        try:
            apply(chat, name, pick, step, text)
        except InputError:
            assert chat.to_dict() == before
        assert_whole(chat)
        assert Conversation.from_dict(json.loads(json.dumps(chat.to_dict()))) == chat


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=30), st.integers(0, 40), st.sampled_from([-1, 1]))
def test_switching_loses_nothing_and_switching_back_restores_the_path(ops, pick, step):
    chat = Conversation()
    for name, p, s, text in ops:
        try:
            apply(chat, name, p, s, text)
        except InputError:
            pass
    if not chat.nodes:
        return
    everything = [m.to_dict() for m in chat.nodes]
    path = [m.id for m in chat.messages]
    target = chat.nodes[pick % len(chat.nodes)]
    try:
        shown = chat.switch(target.id, step)
    except InputError:
        return
    assert [m.to_dict() for m in chat.nodes] == everything
    assert shown.id in [m.id for m in chat.messages]
    assert_whole(chat)
    chat.switch(shown.id, -step)
    if target.id in path:
        assert [m.id for m in chat.messages] == path
    assert target.id in [m.id for m in chat.messages]


@settings(max_examples=200, deadline=None)
@given(st.lists(op, max_size=30), st.integers(0, 40))
def test_delete_removes_exactly_the_branch_below_a_message(ops, pick):
    chat = Conversation()
    for name, p, s, text in ops:
        try:
            apply(chat, name, p, s, text)
        except InputError:
            pass
    if not chat.nodes:
        return
    target = chat.nodes[pick % len(chat.nodes)].id
    below, frontier = {target}, [target]
    while frontier:
        frontier = [m.id for m in chat.nodes if m.parent in frontier]
        below.update(frontier)
    kept = [m.to_dict() for m in chat.nodes if m.id not in below]
    removed = chat.delete(target)
    assert {m.id for m in removed} == below
    assert [m.to_dict() for m in chat.nodes] == kept
    assert_whole(chat)
