// The page's protocol client (web/client.js, as built into dist/ with the generated protocol.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { EngineClient, pack } from "../../dist/client.js";
import { PROTOCOL_VERSION } from "../../dist/protocol.js";

function fakeWorker() {
  const worker = { sent: [], postMessage(message) { this.sent.push(message); } };
  worker.answer = (event) => worker.onmessage({ data: JSON.stringify(event) });
  return worker;
}

test("send() yields its own request's events in order and ends at its end", async () => {
  const worker = fakeWorker();
  const client = new EngineClient(worker);
  const seen = [];
  const stream = client.send("send", { text: "Hi" });
  const request = JSON.parse(worker.sent[0].json);
  assert.deepEqual(request, { v: PROTOCOL_VERSION, kind: "send", id: stream.id, text: "Hi" });
  const reading = (async () => { for await (const event of stream) seen.push(event.kind); })();
  worker.answer({ kind: "accepted", id: stream.id });
  worker.answer({ kind: "delta", id: "someone-else", text: "x" });
  worker.answer({ kind: "delta", id: stream.id, text: "Hel" });
  worker.answer({ kind: "done", id: stream.id });
  worker.answer({ kind: "end", id: stream.id });
  await reading;
  assert.deepEqual(seen, ["accepted", "delta", "done"]);
  assert.equal(client.streams.size, 0);
});

test("events that answer no request go to listeners", () => {
  const client = new EngineClient(fakeWorker());
  const booted = [];
  client.on("booted", (event) => booted.push(event));
  client.worker.answer({ kind: "booted", id: null });
  assert.equal(booted.length, 1);
});

test("a misnamed kind or field is a programming error, caught before anything is posted", () => {
  const worker = fakeWorker();
  const client = new EngineClient(worker);
  assert.throws(() => client.send("sned", {}), /Unknown request kind "sned"/);
  assert.throws(() => client.post("send", { txt: "Hi" }), /Request send has no field txt/);
  assert.equal(worker.sent.length, 0);
});

test("Blobs travel beside the JSON, each replaced by its index", () => {
  const blob = new Blob(["weights"]);
  const { json, blobs } = pack({ kind: "load", files: [{ path: "a.onnx", blob }], model: "m" });
  assert.deepEqual(JSON.parse(json), { kind: "load", files: [{ path: "a.onnx", blob: { $blob: 0 } }], model: "m" });
  assert.deepEqual(blobs, [blob]);
});
