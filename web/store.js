// Saved conversations: IndexedDB, one record per chat (Python's saved form of a conversation, plus
// `updated`). Where the browser refuses IndexedDB (some private modes) the chats live in memory and
// `persistent` is false, so the page can say they will not survive. Lists put pinned chats first, then
// the most recently used.
const DB_NAME = "pagellm";
const STORE = "conversations";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// Last use: when the chat was opened or written to (`used`, seconds); a version 1 record has only `updated`.
const lastUse = (chat) => (chat.used ? chat.used * 1000 : chat.updated ?? 0);
const byUse = (a, b) => (!!b.pinned - !!a.pinned) || lastUse(b) - lastUse(a);

class IndexedDBStore {
  persistent = true;
  constructor(db) { this.db = db; }
  tx(mode) { return this.db.transaction(STORE, mode).objectStore(STORE); }
  async list() { return (await request(this.tx("readonly").getAll())).sort(byUse); }
  get(id) { return request(this.tx("readonly").get(id)); }
  put(conversation) { return request(this.tx("readwrite").put({ ...conversation, updated: Date.now() })); }
  // Several chats in one transaction: all are saved, or none (an import never lands half-way).
  putAll(conversations) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, "readwrite");
      for (const chat of conversations) tx.objectStore(STORE).put({ ...chat, updated: Date.now() });
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error);
    });
  }
  delete(id) { return request(this.tx("readwrite").delete(id)); }
}

class MemoryStore {
  persistent = false;
  constructor(reason) { this.reason = reason; this.items = new Map(); }
  async list() { return [...this.items.values()].sort(byUse); }
  async get(id) { return this.items.get(id); }
  async put(conversation) { this.items.set(conversation.id, { ...conversation, updated: Date.now() }); }
  async putAll(conversations) { for (const chat of conversations) await this.put(chat); }
  async delete(id) { this.items.delete(id); }
}

export async function openStore() {
  try {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: "id" });
    return new IndexedDBStore(await request(open));
  } catch (err) {
    return new MemoryStore(err?.message || String(err));
  }
}
