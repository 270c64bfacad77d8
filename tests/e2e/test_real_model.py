"""The bundled model itself, on WebAssembly: it answers a simple question correctly."""

from __future__ import annotations

from tests.e2e.helpers import ChatPage

REAL_MODEL_BOOT = 300_000  # ms: 137 MB of weights and an ONNX Runtime session on a busy 2-core machine


def test_smollm2_answers_the_capital_of_france(page, guard, console, site):
    chat = ChatPage(page, site)
    chat.open("model=smollm2-135m-instruct&device=wasm", wait_ready=False)
    chat.wait_state("ready", REAL_MODEL_BOOT)
    assert chat.by("device").inner_text() == "wasm"
    answer = chat.ask("What is the capital of France?", max_tokens=24, temperature=0)
    assert "Paris" in answer, answer
