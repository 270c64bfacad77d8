// Which preset a typed base URL means (web/endpoints.js): the preset's own URL, a local server's port,
// or Custom; never a stale preset.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { endpointOf, providerFor } from "../../dist/endpoints.js";

const PROVIDERS = JSON.parse(readFileSync(new URL("../../dist/providers.json", import.meta.url), "utf8"));

test("a preset's own URL selects it, with or without a trailing slash", () => {
  assert.equal(providerFor("https://api.openai.com/v1/", PROVIDERS), "openai");
  assert.equal(providerFor(" https://api.groq.com/openai/v1 ", PROVIDERS), "groq");
});

test("a server on this machine is known by its port", () => {
  assert.equal(providerFor("http://127.0.0.1:11434/v1", PROVIDERS), "ollama");
  assert.equal(providerFor("http://localhost:8080/v1", PROVIDERS), "llamacpp");
  assert.equal(providerFor("http://127.0.0.1:9999/v1", PROVIDERS), "custom");
});

test("any other URL is Custom, and an incomplete one decides nothing yet", () => {
  assert.equal(providerFor("https://gateway.example.com/v1", PROVIDERS), "custom");
  assert.equal(providerFor("http://", PROVIDERS), null);
  assert.equal(providerFor("", PROVIDERS), null);
  assert.equal(endpointOf(" http://x/v1/// "), "http://x/v1");
});
