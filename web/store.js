// Saved conversations: IndexedDB, one record per chat. Where the browser refuses IndexedDB (some private
// modes) the chats live in memory and `persistent` is false, so the page can say they will not survive.
const DB_NAME = "pagellm";
const STORE = "conversations";

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

class IndexedDBStore {
  persistent = true;
  constructor(db) { this.db = db; }
  tx(mode) { return this.db.transaction(STORE, mode).objectStore(STORE); }
  async list() {
    const all = await request(this.tx("readonly").getAll());
    return all.sort((a, b) => (b.updated ?? 0) - (a.updated ?? 0));
  }
  get(id) { return request(this.tx("readonly").get(id)); }
  put(conversation) { return request(this.tx("readwrite").put({ ...conversation, updated: Date.now() })); }
  delete(id) { return request(this.tx("readwrite").delete(id)); }
}

class MemoryStore {
  persistent = false;
  constructor(reason) { this.reason = reason; this.items = new Map(); }
  async list() { return [...this.items.values()].sort((a, b) => b.updated - a.updated); }
  async get(id) { return this.items.get(id); }
  async put(conversation) { this.items.set(conversation.id, { ...conversation, updated: Date.now() }); }
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
