// Model text as safe HTML: markdown (marked), math (KaTeX as MathML), then DOMPurify; code blocks are
// highlighted by highlight.js in a worker (highlight-worker.js) so a long block never blocks the page.
//
// Streaming redraws a reply every frame, so the work is per top-level block: each block's sanitised HTML
// is cached by its source, and a container keeps the nodes of blocks that did not change. Only the block
// being written is parsed again; a code block is highlighted once it is finished.
import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.mjs";
import katex from "./vendor/katex/katex.mjs";

// KaTeX writes MathML only: its HTML output needs inline style attributes (and svg), which model text
// never gets. The sanitiser keeps the MathML elements and attributes KaTeX emits, less mglyph (it loads
// an image) and href (\href): FORBID_TAGS removes the rest of DOMPurify's MathML, and a hook every
// MathML attribute not listed here.
const MATHML_ATTRS = new Set(["xmlns", "display", "encoding", "mathvariant", "stretchy", "fence", "separator",
  "lspace", "rspace", "accent", "accentunder", "linethickness", "scriptlevel", "displaystyle", "columnalign",
  "columnspacing", "columnlines", "rowspacing", "rowlines", "width", "height", "depth", "voffset", "minsize",
  "maxsize", "mathsize", "symmetric", "largeop", "movablelimits", "notation", "mathcolor", "mathbackground",
  "linebreak"]);
const MATHML_NS = "http://www.w3.org/1998/Math/MathML";

export const PURIFY = {
  FORBID_TAGS: ["img", "style", "form", "input", "button", "iframe", "video", "audio", "source", "picture",
    "svg", "object", "embed", "link", "meta", "base", "textarea", "select",
    "mglyph", "merror", "mfenced", "mmultiscripts", "mprescripts", "ms", "maction", "annotation-xml"],
  FORBID_ATTR: ["style", "srcset", "src", "action", "formaction", "background", "poster"],
  ADD_TAGS: ["semantics", "annotation"],
  ALLOW_DATA_ATTR: false,
};

DOMPurify.addHook("uponSanitizeAttribute", (node, data) => {
  if (node.namespaceURI === MATHML_NS && !MATHML_ATTRS.has(data.attrName)) data.keepAttr = false;
});

const KATEX = { output: "mathml", throwOnError: false, trust: false, strict: "ignore", maxExpand: 200, maxSize: 20 };

// Display math inside a paragraph is a span (a div would end the paragraph), shown as a block by app.css.
function tex(source, displayMode, tag = "div") {
  const html = katex.renderToString(source, { ...KATEX, displayMode });
  return displayMode ? `<${tag} class="math-display">${html}</${tag}>` : html;
}

// $$…$$ and \[…\] starting a line are blocks; within a line they are display math too, and $…$ and
// \(…\) are inline. A $ followed by a space, or a closing $ followed by a digit, reads as money
// ("$5 and $10"), not math.
const math = {
  extensions: [
    {
      name: "blockMath", level: "block",
      // Where a paragraph may end for a block to start: the beginning of a line (marked passes src from its second character).
      start(src) {
        const at = src.search(/\n {0,3}(?:\$\$|\\\[)/);
        return at < 0 ? undefined : at + 1;
      },
      tokenizer(src) {
        const m = /^ {0,3}(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n|$)/.exec(src);
        if (m) return { type: "blockMath", raw: m[0], text: (m[1] ?? m[2]).trim() };
      },
      renderer: (token) => tex(token.text, true) + "\n",
    },
    {
      name: "inlineMath", level: "inline",
      start: (src) => src.match(/\$|\\[([]/)?.index,
      tokenizer(src) {
        const m = /^\$\$([^$]+?)\$\$/.exec(src) || /^\\\[([\s\S]+?)\\\]/.exec(src) || /^\\\(([\s\S]+?)\\\)/.exec(src)
          || /^\$(?![\s$])((?:\\\$|[^$\n])+?)(?<!\s)\$(?![\d$])/.exec(src);
        if (m) return { type: "inlineMath", raw: m[0], text: m[1], display: !m[0].startsWith("\\(") && !/^\$[^$]/.test(m[0]) };
      },
      renderer: (token) => tex(token.text, token.display, "span"),
    },
  ],
};

const marked = new Marked({ gfm: true, breaks: true }, math);

// Sanitised HTML by block source; bounded by characters so a long chat cannot grow it without end.
const blockCache = new Map();
let cachedChars = 0;
const CACHE_CHARS = 4_000_000;

function blockHTML(token) {
  const hit = blockCache.get(token.raw);
  if (hit !== undefined) return hit;
  const html = DOMPurify.sanitize(marked.parser([token]), PURIFY);
  blockCache.set(token.raw, html);
  cachedChars += token.raw.length + html.length;
  for (const [key, value] of blockCache) {
    if (cachedChars <= CACHE_CHARS) break;
    blockCache.delete(key);
    cachedChars -= key.length + value.length;
  }
  return html;
}

function blockNodes(html, finished, decorate) {
  const template = document.createElement("template");
  template.innerHTML = html;
  for (const code of template.content.querySelectorAll("pre > code")) {
    setChunks(code, code.textContent);
    if (finished) highlight(code);
  }
  decorate?.(template.content);
  return [...template.content.childNodes];
}

const owned = new WeakMap();  // container -> { blocks: [{ raw, finished, nodes, code? }], lexed: [tokens] }

// Top-level tokens of `text`. While a reply streams, the text only grows: the blocks before the last
// one are kept from the previous call and only the rest is lexed again (the final draw lexes it whole).
function lexBlocks(text, previous) {
  const kept = previous.slice(0, -1);
  const prefix = kept.map((token) => token.raw).join("");
  if (kept.length && text.startsWith(prefix)) return [...kept, ...marked.lexer(text.slice(prefix.length))];
  return [...marked.lexer(text)];
}

// Draw `text` at the end of `container`, reusing the nodes of unchanged blocks from the last call.
// While `streaming`, the last block is still being written: its code is not highlighted yet, and a code
// block that only grew gets the new text appended instead of being parsed and sanitised again.
// `decorate(fragment)` adjusts each new block (links, copy buttons).
export function renderMarkdown(container, text, { streaming = false, decorate } = {}) {
  const last = owned.get(container) || { blocks: [], lexed: [] };
  const lexed = streaming ? lexBlocks(text, last.lexed) : [...marked.lexer(text)];
  const tokens = lexed.filter((token) => token.type !== "space");
  const before = last.blocks;
  const blocks = tokens.map((token, index) => ({ raw: token.raw, finished: !streaming || index < tokens.length - 1, token }));
  let same = 0;
  while (same < before.length && same < blocks.length && before[same].raw === blocks[same].raw
         && before[same].finished === blocks[same].finished
         && before[same].nodes.every((node) => node.parentNode === container)) same += 1;
  const after = before.slice(0, same);
  const grown = before[same];
  const next = blocks[same];
  if (grown?.code && same === before.length - 1 && next?.token.type === "code" && next.token.lang === grown.lang
      && next.token.text.startsWith(grown.text)) {
    // The code block being written grew, or was finished: the same element, with the text added.
    appendCode(grown.code, next.token.text.slice(grown.text.length));
    if (next.finished) highlight(grown.code);
    after.push({ ...grown, raw: next.raw, finished: next.finished, text: next.token.text, code: next.finished ? null : grown.code });
    for (const block of blocks.slice(same + 1)) after.push(drawBlock(container, block, decorate));
  } else {
    for (const old of before.slice(same)) for (const node of old.nodes) node.remove();
    for (const block of blocks.slice(same)) after.push(drawBlock(container, block, decorate));
  }
  owned.set(container, { blocks: after, lexed });
}

function drawBlock(container, block, decorate) {
  const nodes = blockNodes(blockHTML(block.token), block.finished, decorate);
  container.append(...nodes);
  // A code block being written: kept to append to on the next frame.
  const code = !block.finished && block.token.type === "code" && nodes[0]?.querySelector?.("code") || null;
  return { raw: block.raw, finished: block.finished, nodes, code, text: code?.textContent, lang: block.token.lang };
}

// The nodes renderMarkdown drew into a container (its owner keeps them when it redraws the rest).
export function markdownNodes(container) {
  return new Set((owned.get(container)?.blocks || []).flatMap((block) => block.nodes));
}

// -- long code ------------------------------------------------------------------------------------
// A code element holds its text in spans of CHUNK_LINES lines (span.code-chunk): a streaming block
// appends to its last span only (the browser keeps the shaped text of the others), and highlighting
// replaces one span per task. The spans are inline, so selecting and copying code reads as written.
const CHUNK_LINES = 50;

function chunkLines(text) {
  const parts = [];
  let start = 0;
  let end = -1;
  for (let n = 1; (end = text.indexOf("\n", end + 1)) !== -1; n += 1) {
    if (n % CHUNK_LINES === 0) { parts.push(text.slice(start, end + 1)); start = end + 1; }
  }
  if (start < text.length || !parts.length) parts.push(text.slice(start));
  return parts;
}

function chunkElement(text) {
  const span = Object.assign(document.createElement("span"), { className: "code-chunk" });
  span.append(text);
  return span;
}

function setChunks(code, text) {
  code.replaceChildren(...chunkLines(text).map(chunkElement));
}

function appendCode(code, addition) {
  const last = code.lastElementChild;
  const [head, ...more] = chunkLines(last.textContent + addition);
  last.firstChild.appendData(head.slice(last.firstChild.length));
  code.append(...more.map(chunkElement));
}

// -- highlighting ---------------------------------------------------------------------------------
// The worker answers with the highlighted code in the same chunks of lines (spans closed at each chunk's
// end and reopened at the next one's start). One chunk is filled per task, so a long block never holds
// the page for longer than a chunk.

const highlighted = new Map();  // `${language}\n${code}` -> [chunk HTML], [] when not highlighted
const waiting = new Map();      // the same key -> code elements to fill when the worker answers
const SPAN_TAGS = /<span class="[\w -]+">|<\/span>/g;
let worker = null;

function languageOf(code) {
  return /(?:^|\s)language-([\w+#.-]+)/.exec(code.className)?.[1]?.toLowerCase() || "";
}

function highlight(code) {
  const language = languageOf(code);
  const key = `${language}\n${code.textContent}`;
  const chunks = highlighted.get(key);
  if (chunks !== undefined) return fill(code, chunks);
  if (!waiting.has(key)) {
    waiting.set(key, []);
    worker ??= startWorker();
    worker?.postMessage({ key, language, code: code.textContent, lines: CHUNK_LINES });
  }
  waiting.get(key)?.push(code);
}

function fill(code, chunks) {
  if (!chunks.length) return;
  const plain = [...code.children];
  if (plain.length !== chunks.length) return;
  code.classList.add("hljs");
  const step = (index) => {
    const html = chunks[index];
    // highlight.js escapes the code's text: its output is that text in <span class="…">, nothing else.
    if (html.replace(SPAN_TAGS, "").includes("<")) return;
    const template = document.createElement("template");
    template.innerHTML = html;
    plain[index].replaceChildren(template.content);
    if (index + 1 < chunks.length) setTimeout(() => step(index + 1), 0);
  };
  setTimeout(() => step(0), 0);
}

function startWorker() {
  try {
    const started = new Worker(new URL("./highlight-worker.js", import.meta.url), { type: "module" });
    started.onmessage = ({ data }) => {
      highlighted.set(data.key, data.chunks);
      if (highlighted.size > 200) highlighted.delete(highlighted.keys().next().value);
      for (const code of waiting.get(data.key) || []) fill(code, data.chunks);
      waiting.delete(data.key);
    };
    return started;
  } catch {
    return null;  // no workers: code stays plain
  }
}
