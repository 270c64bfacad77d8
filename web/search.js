// Search across saved chats: titles and every message of every branch, case-insensitive. Pure: it reads
// the records the store lists and returns where each match is, for the page to draw and open.
import { t } from "./i18n.js";

const SNIPPET = 120;

// The line holding the match, cut to about SNIPPET characters around it.
function lineAround(text, at, length) {
  const start = text.lastIndexOf("\n", at) + 1;
  const end = text.indexOf("\n", at + length);
  const line = text.slice(start, end === -1 ? text.length : end);
  const offset = at - start;
  if (line.length <= SNIPPET) return line.trim();
  const from = Math.max(0, Math.min(offset - SNIPPET / 3, line.length - SNIPPET));
  return `${from > 0 ? "…" : ""}${line.slice(from, from + SNIPPET).trim()}${from + SNIPPET < line.length ? "…" : ""}`;
}

// [{ chatId, title, at (index in the chat's saved messages, or null for a title match), line }], at most
// `limit`, one per chat unless `perChat` allows more; chats in the order given (the list's order).
export function searchChats(chats, query, { limit = 50, perChat = 3 } = {}) {
  const needle = query.trim().toLowerCase();
  if (!needle) return [];
  const results = [];
  for (const chat of chats) {
    let found = 0;
    const title = chat.title || t("chats.untitled");
    if (title.toLowerCase().includes(needle)) {
      results.push({ chatId: chat.id, title, at: null, line: title });
      found += 1;
    }
    const messages = chat.messages ?? [];
    for (let index = 0; index < messages.length && found < perChat; index += 1) {
      const text = messages[index]?.content;
      if (typeof text !== "string") continue;
      const at = text.toLowerCase().indexOf(needle);
      if (at === -1) continue;
      results.push({ chatId: chat.id, title, at: index, line: lineAround(text, at, needle.length) });
      found += 1;
    }
    if (results.length >= limit) return results.slice(0, limit);
  }
  return results;
}
