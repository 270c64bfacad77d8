// Syntax highlighting off the page's main thread: highlight.js takes ~50 ms for 1,000 lines, more than a
// frame. Asked { key, language, code, lines }, answers { key, chunks }: the highlighted HTML in pieces of
// `lines` lines, each piece closing the spans still open and the next reopening them, so the page can
// insert one piece per task. No chunks for a language it does not know.
import hljs from "./vendor/highlight.min.js";

const AUTO_LIMIT = 20_000;  // guessing the language runs every grammar: only for short blocks

// Split as the page splits the plain text (markdown.js chunkLines): no empty piece after a final newline.
function chunked(html, size) {
  const chunks = [];
  const open = [];
  let current = "";
  let lines = 0;
  for (const [part] of html.matchAll(/<span class="[^"]*">|<\/span>|\n|[^<\n]+/g)) {
    if (part.startsWith("<span")) open.push(part);
    else if (part === "</span>") open.pop();
    current += part;
    if (part === "\n" && ++lines % size === 0) {
      chunks.push(current + "</span>".repeat(open.length));
      current = open.join("");
    }
  }
  if (current !== open.join("") || !chunks.length) chunks.push(current + "</span>".repeat(open.length));
  return chunks;
}

self.onmessage = ({ data }) => {
  const { key, language, code, lines } = data;
  let html = "";
  try {
    if (language && hljs.getLanguage(language)) html = hljs.highlight(code, { language, ignoreIllegals: true }).value;
    else if (!language && code.length <= AUTO_LIMIT) html = hljs.highlightAuto(code).value;
  } catch {
    html = "";
  }
  self.postMessage({ key, chunks: html ? chunked(html, lines) : [] });
};
