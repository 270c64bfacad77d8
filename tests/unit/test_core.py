"""The pure core: messages, conversations, settings, stop strings, the reply clock."""

from __future__ import annotations

import pytest

from pagellm import Conversation, GenerationSettings, Message, ReplyClock
from pagellm.errors import ContextOverflowError, InputError, SettingsError
from pagellm.stops import StopStrings


def test_empty_prompt_is_refused_with_a_clear_message():
    chat = Conversation()
    for text in ("", "   ", "\n\t"):
        with pytest.raises(InputError, match="empty prompt"):
            chat.add_user(text)
    assert chat.messages == []


def test_for_model_puts_system_first_and_leaves_error_notices_out():
    chat = Conversation(system_prompt="Be brief.")
    chat.add_user("Hi")
    chat.add_assistant("", status="error")
    chat.add_user("Again")
    chat.add_assistant("Hello", status="stopped")
    assert chat.for_model() == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_title_comes_from_the_first_message():
    chat = Conversation()
    chat.add_user("  What is   the capital\nof France?  ")
    assert chat.title == "What is the capital of France?"


def test_round_trip_through_dict():
    chat = Conversation(system_prompt="sys")
    chat.add_user("a")
    chat.add_assistant("b", status="stopped").meta["stats"] = {"completion_tokens": 1}
    again = Conversation.from_dict(chat.to_dict())
    assert again.to_dict() == chat.to_dict()


@pytest.mark.parametrize("bad", [None, {"messages": "x"}, {"messages": [{"role": "wizard", "content": "x"}]},
                                 {"messages": [{"role": "user"}]}, {"messages": [{"role": "user", "content": 3}]}])
def test_from_dict_rejects_malformed_conversations(bad):
    with pytest.raises(InputError):
        Conversation.from_dict(bad)


def count_words(messages):
    return sum(len(m["content"].split()) + 1 for m in messages)


def test_trimming_drops_oldest_turns_but_keeps_system_and_last_user():
    chat = Conversation(system_prompt="sys")
    for i in range(5):
        chat.add_user(f"question {i} " + "word " * 10)
        chat.add_assistant(f"answer {i} " + "word " * 10)
    chat.add_user("last question")
    trimmed = chat.trimmed(count_words, 40)
    assert trimmed[0] == {"role": "system", "content": "sys"}
    assert trimmed[-1] == {"role": "user", "content": "last question"}
    assert trimmed[1]["role"] == "user"  # history restarts on a user turn
    assert count_words(trimmed) <= 40
    assert len(trimmed) < len(chat.for_model())


def test_trimming_says_by_how_much_when_nothing_fits():
    chat = Conversation(system_prompt="sys")
    chat.add_user("word " * 100)
    with pytest.raises(ContextOverflowError, match="needs 103 tokens but the model's context holds 50"):
        chat.trimmed(count_words, 50)


def test_drop_last_reply_for_regenerate():
    chat = Conversation()
    chat.add_user("q")
    chat.add_assistant("a")
    chat.drop_last_reply()
    assert [m.role for m in chat.messages] == ["user"]
    with pytest.raises(InputError):
        Conversation().drop_last_reply()


def test_message_validation():
    with pytest.raises(InputError, match="role"):
        Message("robot", "x")
    with pytest.raises(InputError, match="status"):
        Message("user", "x", status="weird")


@pytest.mark.parametrize("field,value,message", [
    ("temperature", 5, "between 0 and 2, got 5"),
    ("temperature", -0.1, "between 0 and 2"),
    ("top_p", 1.5, "between 0 and 1"),
    ("top_k", 2.5, "whole number"),
    ("max_new_tokens", 0, "between 1 and 32768"),
    ("max_new_tokens", "abc", "must be a number"),
    ("repetition_penalty", float("nan"), "between 0.5 and 2"),
    ("seed", -1, "0 or more"),
    ("stop", [""], "non-empty strings"),
])
def test_settings_out_of_range_name_the_field(field, value, message):
    with pytest.raises(SettingsError, match=message) as caught:
        GenerationSettings.from_dict({field: value})
    assert caught.value.field == field


def test_settings_reject_unknown_fields_and_accept_form_text():
    with pytest.raises(SettingsError, match="temprature is not a setting"):
        GenerationSettings.from_dict({"temprature": 1})
    settings = GenerationSettings.from_dict({"temperature": "0", "max_new_tokens": "64", "top_k": "10", "seed": ""})
    assert settings.greedy and settings.max_new_tokens == 64 and settings.top_k == 10 and settings.seed is None
    assert isinstance(settings.max_new_tokens, int)
    assert GenerationSettings.from_dict(settings.to_dict()) == settings


def test_stop_strings_hold_back_partial_matches():
    stops = StopStrings(["</end>", "\nUser:"])
    assert stops.feed("Hello </e") == ("Hello ", False)
    assert stops.feed("nd> more") == ("", True)
    stops = StopStrings(["</end>"])
    assert stops.feed("a </") == ("a ", False)
    assert stops.feed("b") == ("</b", False)
    assert stops.flush() == ""
    assert StopStrings().feed("anything") == ("anything", False)


def test_reply_clock_measures_first_token_and_decode_rate():
    ticks = iter([0.0, 0.5, 0.6, 0.7, 1.5, 2.0])
    clock = ReplyClock(now=lambda: next(ticks))
    for _ in range(4):
        clock.token()
    final = clock.final("stop", prompt_tokens=7)
    assert final.time_to_first_token == 0.5
    assert final.completion_tokens == 4
    assert final.tokens_per_second == pytest.approx(3 / 1.0)
    assert final.total_time == 2.0 and final.prompt_tokens == 7
