"""The worker's controller, driven like the page drives it, with a scripted engine."""

from __future__ import annotations

import asyncio

from pagellm.engine import Delta, Final, Progress
from pagellm.errors import NetworkError
from pagellm.worker import WorkerApp

CATALOG = {"default": "tiny", "models": [{"id": "tiny", "name": "Tiny", "dtypes": ["q8"]}]}


class ScriptedEngine:
    def __init__(self, pieces=("Hel", "lo"), fail_after=None):
        self.pieces, self.fail_after = pieces, fail_after
        self.device, self.dtype, self.notice, self.load_seconds = "wasm", "q8", None, 0.1
        self.cancelled = False
        self.seen = None

    async def load(self, progress=None):
        progress(Progress("Downloading model", 5, 10))

    async def stream(self, conversation, settings):
        self.seen = conversation.for_model()
        for index, piece in enumerate(self.pieces):
            if index == self.fail_after:
                raise NetworkError("The server went away.")
            if self.cancelled:
                yield Final("cancelled", index)
                return
            yield Delta(piece)
            await asyncio.sleep(0)
        yield Final("stop", len(self.pieces))

    def cancel(self):
        self.cancelled = True


def make_app(engine):
    """The app and the events it posts; each request's closing ``end`` is checked and left out."""
    events = []

    def post(event):
        assert event["id"] == "r1", event  # every event answers the request that caused it
        if event["kind"] != "end":
            events.append(event)
    app = WorkerApp(post=post, make_local=lambda entry, device, url, threads=None, files=None: engine,
                    make_remote=lambda b: engine)
    return app, events


def req(message):
    """A page request in the protocol's form, from {"type": kind, ...}."""
    return {"v": 1, "id": "r1", **{("kind" if key == "type" else key): value for key, value in message.items()}}


def run(app, *messages):
    async def go():
        for message in messages:
            await app.handle(req(message))
    asyncio.run(go())


def send(text="Hi", **extra):
    return {"type": "send", "text": text, "conversation": {"messages": []}, "settings": {},
            "backend": {"kind": "local"}, **extra}


def test_load_then_send_streams_and_returns_the_conversation():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "base": "http://x/", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send())
    kinds = [e["kind"] for e in events]
    assert kinds == ["ready", "progress", "loaded", "accepted", "delta", "delta", "done"]
    assert events[1]["fraction"] == 0.5
    done = events[-1]
    assert [m["content"] for m in done["conversation"]["messages"]] == ["Hi", "Hello"]
    assert done["final"]["finish_reason"] == "stop"


def test_send_before_load_is_a_clear_error_and_loses_nothing():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "catalog": CATALOG}, send())
    assert events[-1]["kind"] == "error" and "not loaded yet" in events[-1]["message"]


def test_bad_settings_name_the_field_before_anything_is_sent():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"},
        send(settings={"temperature": "9"}))
    error = events[-1]
    assert error["kind"] == "error" and error["setting"] == "temperature"
    assert "accepted" not in [e["kind"] for e in events]


def test_an_engine_failure_keeps_the_partial_reply_marked():
    app, events = make_app(ScriptedEngine(pieces=("Par", "tial", "x"), fail_after=2))
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send())
    error = events[-1]
    assert error["kind"] == "error" and error["code"] == "network"
    reply = error["conversation"]["messages"][-1]
    assert reply["content"] == "Partial" and reply["status"] == "error" and reply["meta"]["error"]


def test_stop_while_streaming_keeps_the_reply_marked_stopped():
    engine = ScriptedEngine(pieces=tuple("abcdefgh"))
    app, events = make_app(engine)

    async def go():
        await app.handle(req({"type": "init", "catalog": CATALOG}))
        await app.handle(req({"type": "load", "model": "tiny"}))
        task = asyncio.ensure_future(app.handle(req(send())))
        while not any(e["kind"] == "delta" for e in events):
            await asyncio.sleep(0)
        await app.handle(req({"type": "stop"}))
        await task
    asyncio.run(go())
    done = events[-1]
    reply = done["conversation"]["messages"][-1]
    assert done["final"]["finish_reason"] == "cancelled" and reply["status"] == "stopped"
    assert 0 < len(reply["content"]) < 8


def test_regenerate_answers_again_beside_the_old_reply():
    engine = ScriptedEngine()
    app, events = make_app(engine)
    conversation = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "old"}]}
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"},
        {"type": "regenerate", "conversation": conversation, "settings": {}, "backend": {"kind": "local"}})
    assert engine.seen == [{"role": "user", "content": "Q"}]
    done = events[-1]["conversation"]
    assert [m["content"] for m in done["messages"]] == ["Q", "old", "Hello"]
    assert [(v["index"], v["count"]) for v in done["view"]] == [(1, 1), (2, 2)]


def test_unknown_model_and_unknown_request():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "nope"}, {"type": "dance"})
    assert "Unknown model 'nope'" in events[-2]["message"]
    assert "Unknown request" in events[-1]["message"]


def test_a_reply_that_never_ends_is_cut_at_the_message_limit(monkeypatch):
    import pagellm.worker as worker_module

    monkeypatch.setattr(worker_module, "MAX_MESSAGE_CHARS", 10)
    engine = ScriptedEngine(pieces=("abcd",) * 50)
    app, events = make_app(engine)
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send())
    reply = events[-1]["conversation"]["messages"][-1]
    assert engine.cancelled and reply["content"] == "abcdabcd" and "cut at 10" in reply["meta"]["error"]


class LongPromptEngine(ScriptedEngine):
    """Reads its prompt in steps before answering, as the local engine does; overflows past a size."""

    def __init__(self, max_chars=None, **kwargs):
        super().__init__(**kwargs)
        self.max_chars, self.requests = max_chars, []

    async def stream(self, conversation, settings):
        from pagellm.engine import ContextUse, Reading
        from pagellm.errors import ContextOverflowError

        size = sum(len(m["content"]) for m in conversation.for_model())
        self.requests.append(size)
        if self.max_chars is not None and size > self.max_chars:
            raise ContextOverflowError(f"The message needs {size} tokens but the model's context holds {self.max_chars}.")
        yield ContextUse(size, 2048, 2)
        for done in (0, 32, 64):
            yield Reading(done, 65)
        async for event in super().stream(conversation, settings):
            yield event


def test_reading_progress_and_context_use_reach_the_page_before_the_reply():
    app, events = make_app(LongPromptEngine())
    run(app, {"type": "init", "base": "http://x/", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send())
    kinds = [e["kind"] for e in events]
    assert kinds.index("context") < kinds.index("reading") < kinds.index("delta") < kinds.index("done")
    assert [e["done"] for e in events if e["kind"] == "reading"] == [0, 32, 64]
    context = next(e for e in events if e["kind"] == "context")
    assert (context["used"], context["limit"], context["left_out"]) == (2, 2048, 2)


def test_a_summary_shrinks_the_transcript_until_it_fits_the_context():
    engine = LongPromptEngine(max_chars=1500)
    app, events = make_app(engine)
    chat = {"messages": [{"role": "user", "content": "word " * 2000}, {"role": "assistant", "content": "ok"}]}
    run(app, {"type": "init", "base": "http://x/", "catalog": CATALOG}, {"type": "load", "model": "tiny"},
        {"type": "summarize", "conversation": chat, "settings": {}, "backend": {"kind": "local"}})
    summary = events[-1]["conversation"]
    assert summary["system_prompt"].endswith("Summary of an earlier chat:\nHello") and summary["messages"] == []
    assert engine.requests[0] > 1500 >= engine.requests[-1], engine.requests
    assert not [e for e in events if e["kind"] == "error"]


def test_a_chat_with_nothing_in_it_cannot_be_summarized():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "base": "http://x/", "catalog": CATALOG}, {"type": "load", "model": "tiny"},
        {"type": "summarize", "conversation": {"messages": []}, "settings": {}, "backend": {"kind": "local"}})
    assert "nothing to summarize" in next(e for e in events if e["kind"] == "error")["message"]


def ready_app(engine):
    app, events = make_app(engine)
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"})
    return app, events


def intent(kind, conversation, **extra):
    turn = {"settings": {}, "backend": {"kind": "local"}} if kind in ("send", "edit", "regenerate", "continue") else {}
    return {"type": kind, "conversation": conversation, **turn, **extra}


def test_edit_answers_the_new_branch_and_keeps_the_old_one():
    engine = ScriptedEngine()
    app, events = ready_app(engine)
    chat = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    run(app, intent("edit", chat, message_id="m1", text="Q2"))
    assert engine.seen == [{"role": "user", "content": "Q2"}]
    accepted = next(e for e in events if e["kind"] == "accepted")
    assert accepted["conversation"]["messages"][-1]["status"] == "interrupted"  # saved as such until done
    done = events[-1]["conversation"]
    assert [m["content"] for m in done["messages"]] == ["Q", "A", "Q2", "Hello"]
    assert [(v["index"], v["count"]) for v in done["view"]] == [(2, 2), (1, 1)]
    run(app, intent("switch", done, message_id=done["view"][0]["id"], step=-1))
    changed = events[-1]
    assert changed["kind"] == "changed" and [v["id"] for v in changed["conversation"]["view"]] == ["m1", "m2"]


def test_continue_carries_a_stopped_reply_on_from_its_text():
    engine = ScriptedEngine(pieces=(" upon", " a time"))
    app, events = ready_app(engine)
    chat = {"messages": [{"role": "user", "content": "Tell"}, {"role": "assistant", "content": "Once", "status": "stopped"}]}
    run(app, intent("continue", chat, message_id="m2"))
    assert engine.seen[-1] == {"role": "assistant", "content": "Once"}
    reply = events[-1]["conversation"]["messages"][-1]
    assert reply["content"] == "Once upon a time" and reply["status"] == "complete"
    assert [e["text"] for e in events if e["kind"] == "delta"] == [" upon", " a time"]


def test_a_refused_intent_changes_nothing_and_says_why():
    app, events = ready_app(ScriptedEngine())
    chat = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    run(app, intent("continue", chat, message_id="m2"), intent("delete", chat, message_id="m9"),
        intent("edit", chat, message_id="m1", text="  "))
    errors = [e for e in events if e["kind"] == "error"]
    assert [("complete" in errors[0]["message"]), ("no message 'm9'" in errors[1]["message"]),
            ("cannot be empty" in errors[2]["message"])] == [True, True, True]
    assert "accepted" not in [e["kind"] for e in events]


def test_delete_and_open_at_a_message_found_by_search():
    app, events = ready_app(ScriptedEngine())
    chat = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"},
                         {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]}
    run(app, intent("delete", chat, message_id="m3"))
    assert [v["id"] for v in events[-1]["conversation"]["view"]] == ["m1", "m2"]
    run(app, intent("open", chat, at=2))
    assert events[-1]["focus"] == "m3" and events[-1]["conversation"]["version"] == 2


def test_import_merges_with_the_saved_chats():
    from pagellm.transfer import export_json
    from pagellm.messages import Conversation

    app, events = make_app(ScriptedEngine())
    saved = Conversation(id="same", title="T")
    saved.add_user("hello")
    other = Conversation.from_dict(saved.to_dict())
    other.messages[0].content = "changed"
    run(app, {"type": "import", "text": export_json([saved, other]), "saved": [saved.to_dict()]})
    imported = events[-1]
    assert imported["unchanged"] == 1 and imported["copies"] == 1
    assert [c["id"] != "same" for c in imported["conversations"]] == [True]


def test_rename_and_system_prompt_are_python_intents():
    app, events = make_app(ScriptedEngine())
    chat = {"id": "c1", "messages": [{"role": "user", "content": "Q"}]}
    run(app, intent("rename", chat, title="  Trip   plans "))
    renamed = events[-1]["conversation"]
    assert (renamed["id"], renamed["title"], len(renamed["messages"])) == ("c1", "Trip plans", 1)
    run(app, intent("set-system-prompt", renamed, text="Be brief."))
    assert events[-1]["conversation"]["system_prompt"] == "Be brief." and events[-1]["conversation"]["title"] == "Trip plans"
    run(app, intent("set-system-prompt", {"system_prompt": "Old", "messages": []}, text="New"))
    fresh = events[-1]["conversation"]  # an empty chat gets its id and saved form from Python
    assert fresh["messages"] == [] and fresh["system_prompt"] == "New" and fresh["id"] and fresh["version"] == 2
    run(app, intent("rename", chat, title="   "), intent("rename", chat, title="x" * 201))
    assert ["cannot be empty" in events[-2]["message"], "at most 200" in events[-1]["message"]] == [True, True]


def test_a_long_reply_is_checkpointed_for_the_page_to_save(monkeypatch):
    import pagellm.worker as worker_module

    monkeypatch.setattr(worker_module, "CHECKPOINT_SECONDS", -1)  # every delta
    app, events = make_app(ScriptedEngine(pieces=("a", "b", "c")))
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send())
    saved = [e["conversation"]["messages"][-1] for e in events if e["kind"] == "checkpoint"]
    assert [(m["content"], m["status"]) for m in saved] == [("a", "interrupted"), ("ab", "interrupted"), ("abc", "interrupted")]
    assert events[-1]["conversation"]["messages"][-1]["content"] == "abc"


def test_every_request_ends_and_a_bad_one_is_refused_by_the_protocol():
    posted = []
    app = WorkerApp(post=posted.append, make_local=None, make_remote=None)
    asyncio.run(app.handle({"v": 1, "id": "a", "kind": "send", "txt": "Hi"}))
    asyncio.run(app.handle({"v": 0, "id": "b", "kind": "init"}))
    assert [(e["id"], e["kind"]) for e in posted] == [("a", "error"), ("a", "end"), ("b", "error"), ("b", "end")]
    assert "txt" in posted[0]["message"] and "reload the page" in posted[2]["message"]


def test_a_server_error_reaches_the_page_with_what_the_server_answered():
    from pagellm.errors import ServerError

    class FailingEngine(ScriptedEngine):
        async def stream(self, conversation, settings):
            raise ServerError("The server failed (500).", status=500, host="127.0.0.1:8080", server_message="boom")
            yield

    app, events = make_app(FailingEngine())
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send())
    error = events[-1]
    assert (error["kind"], error["code"]) == ("error", ServerError.code)
    assert error["data"] == {"status": 500, "host": "127.0.0.1:8080", "server_message": "boom"}


class WordEmbedder:
    """Vectors from two words, enough to tell the passages apart: [mentions 'train', mentions 'museum']."""
    model_id = "test-embedder"

    def __init__(self):
        self.calls = []

    async def embed(self, texts, progress=None):
        self.calls.append(list(texts))
        vectors = [[float("train" in t.lower()), float("museum" in t.lower())] for t in texts]
        if progress:
            progress(len(texts), len(texts))
        return vectors


class GroundedEngine(ScriptedEngine):
    """Reads the files as both engines do (Conversation.model_input) and says what it was given."""

    async def stream(self, conversation, settings):
        from pagellm.engine import Citations

        grounded = conversation.model_input()
        self.seen = grounded.messages
        yield Citations(grounded.citations)
        yield Delta("At 9:40.")
        yield Final("stop", 3)


def test_an_attached_file_is_indexed_sent_with_the_question_and_cited():
    engine, embedder = GroundedEngine(), WordEmbedder()
    events = []
    app = WorkerApp(post=lambda e: e["kind"] == "end" or events.append(e), make_local=lambda *a: engine,
                    make_remote=None, make_embedder=lambda url, model: embedder)
    catalog = {**CATALOG, "embedders": [{"id": "test-embedder"}]}
    text = b"The train leaves at 9:40 from Lyon. " * 3
    run(app, {"type": "init", "base": "http://x/", "catalog": catalog}, {"type": "load", "model": "tiny"},
        {"type": "attach", "name": "notes.txt", "data": text})
    attached = events[-1]
    assert attached["kind"] == "attached" and attached["notice"] is None
    assert attached["attachment"]["name"] == "notes.txt" and attached["attachment"]["index"]["model"] == "test-embedder"
    run(app, send("When does the train leave?", attachments=[attached["attachment"]]))
    done = events[-1]["conversation"]
    question, reply = done["messages"][-2], done["messages"][-1]
    assert [a["name"] for a in question["attachments"]] == ["notes.txt"]
    assert "<attachments>" in engine.seen[-1]["content"] and "9:40" in engine.seen[-1]["content"]
    assert reply["meta"]["citations"]["files"][0]["name"] == "notes.txt"
    assert embedder.calls[-1] == ["When does the train leave?"]  # the question, for ranking passages


def test_a_file_that_cannot_be_attached_is_refused_by_name():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "attach", "name": "photo.txt", "data": b"\x89PNG\r\n\x1a\n\x00\x00"},
        {"type": "attach", "name": "tool.exe", "data": b"MZ"})
    assert [e["kind"] for e in events] == ["error", "error"]
    assert "photo.txt cannot be attached" in events[0]["message"] and "tool.exe" in events[1]["message"]


def test_without_an_embedding_model_passages_are_found_by_their_words():
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "base": "http://x/", "catalog": CATALOG}, {"type": "attach", "name": "a.md", "data": b"# Hi\n\nText."})
    assert events[-1]["kind"] == "attached" and "by their words only" in events[-1]["notice"]


def test_an_image_for_a_text_only_model_is_refused_before_the_chat_changes():
    from pagellm.attachments import Attachment

    png = Attachment.from_bytes("dot.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).to_dict()
    app, events = make_app(ScriptedEngine())
    run(app, {"type": "init", "catalog": CATALOG}, {"type": "load", "model": "tiny"}, send("What is it?", attachments=[png]))
    assert [e["kind"] for e in events[-1:]] == ["error"] and "dot.png is an image" in events[-1]["message"]
    assert "accepted" not in [e["kind"] for e in events]
