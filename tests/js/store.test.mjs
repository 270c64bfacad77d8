// Saved chats (web/store.js): without IndexedDB (node, some private modes) chats live in memory and
// the store says so; lists put pinned chats first, then the most recently used.
import { test } from "node:test";
import assert from "node:assert/strict";
import { openStore } from "../../dist/store.js";

test("without IndexedDB the store keeps chats in memory and says why", async () => {
  const store = await openStore();
  assert.equal(store.persistent, false);
  assert.match(store.reason, /indexedDB/);
});

test("pinned chats come first, then the most recently used; putAll and delete", async () => {
  const store = await openStore();
  await store.putAll([{ id: "old", used: 10 }, { id: "new", used: 30 }, { id: "pinned", used: 1, pinned: true }]);
  await store.put({ id: "v1" });  // no `used` (a version 1 record): it counts from when it was saved, now
  assert.deepEqual((await store.list()).map((c) => c.id), ["pinned", "v1", "new", "old"]);
  await store.delete("new");
  assert.deepEqual((await store.list()).map((c) => c.id), ["pinned", "v1", "old"]);
  assert.equal((await store.get("old")).used, 10);
});
