// Running Python from the chat: the Run button under each Python code block, and the "run Python" tool a
// remote model may call with the user's approval. Every run gets a fresh sandbox worker
// (sandbox-worker.js) that is terminated when the run ends or passes its time limit. What the code prints
// is data: it is only ever written as text, in a panel set apart from the model's words.
const SETTINGS_KEY = "pagellm:sandbox";
const DEFAULTS = { time_limit: 10, tools: false };
const BOOT_LIMIT_S = 120;        // Pyodide's start on a busy machine, not counted in the time limit
const SHOWN_LIMIT = 120_000;     // characters the page shows per run, whatever the worker sends
const PYTHON = /\blanguage-(python|py|python3)\b/;
const FENCE = /^```[ \t]*(?:python|py|python3)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;

const $ = (id) => document.getElementById(id);
const panels = new Map();        // "<message id>:<block>" -> its panel, kept across redraws of the chat
const alwaysApproved = new Set(); // conversation ids whose model may run code without asking again

// ---------------------------------------------------------------------------------------------
// Settings: the time limit and the tool switch, kept apart from the generation settings Python reads.
function loadSettings() {
  try {
    return { ...DEFAULTS, ...JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") };
  } catch {
    return { ...DEFAULTS };
  }
}
const settings = loadSettings();

function saveSettings() {
  try { localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings)); } catch { /* kept for this visit */ }
}

function bindSettings() {
  const limit = $("code-time-limit");
  const tools = $("run-python-tool");
  const note = $("code-settings-note");
  if (!limit || !tools) return;
  limit.value = settings.time_limit;
  tools.checked = settings.tools;
  limit.addEventListener("change", () => {
    const value = Number(limit.value);
    if (!Number.isFinite(value) || value < 1 || value > 600) {
      limit.setAttribute("aria-invalid", "true");
      note.textContent = `The time limit must be a number of seconds from 1 to 600; it stays ${settings.time_limit} s.`;
      return;
    }
    limit.removeAttribute("aria-invalid");
    note.textContent = "";
    settings.time_limit = value;
    saveSettings();
  });
  tools.addEventListener("change", () => { settings.tools = tools.checked; saveSettings(); });
}
bindSettings();

// The tools to offer with a request: only to a remote model, only when switched on.
export function toolsFor(backend) {
  return settings.tools && backend?.kind === "remote" ? ["run_python"] : [];
}

// ---------------------------------------------------------------------------------------------
// One run in a fresh worker. Resolves to { status: ok|error|timeout|stopped|failed, value, error,
// message, seconds, dropped, limit }; output arrives through onOutput as it is printed.
export function runPython(code, { timeLimit = settings.time_limit, onOutput = () => {}, onStart = () => {} } = {}) {
  const worker = new Worker(new URL("./sandbox-worker.js", import.meta.url), { type: "module", name: "pagellm-sandbox" });
  let finish;
  const done = new Promise((resolve) => (finish = resolve));
  let timer = null;
  let ended = false;
  const end = (result) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    worker.terminate();
    finish(result);
  };
  timer = setTimeout(() => end({ status: "failed", message: `The Python sandbox did not start within ${BOOT_LIMIT_S} s.` }),
    BOOT_LIMIT_S * 1000);
  // The worker runs untrusted code, which can post messages too: every field is checked and used as text.
  worker.onmessage = ({ data }) => {
    if (ended || !data || typeof data !== "object") return;
    if (data.type === "output" && Array.isArray(data.chunks)) {
      onOutput(data.chunks.filter((c) => c && typeof c.text === "string").map((c) => ({ stream: c.stream === "stderr" ? "stderr" : "stdout", text: c.text })));
    } else if (data.type === "started") {
      clearTimeout(timer);
      onStart();
      timer = setTimeout(() => end({ status: "timeout", seconds: timeLimit,
        message: `Stopped after ${timeLimit} s, the time limit: the sandbox was shut down.` }), timeLimit * 1000);
    } else if (data.type === "result") {
      end({ status: data.ok ? "ok" : "error", value: text(data.value), error: text(data.error),
        seconds: Number(data.seconds) || 0, dropped: Number(data.dropped) || 0, limit: Number(data.limit) || 0 });
    } else if (data.type === "failed") {
      end({ status: "failed", message: `The Python sandbox stopped: ${text(data.message) || "no reason given"}.` });
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    end({ status: "failed", message: `The Python sandbox stopped: ${event.message || "it could not start"}.` });
  };
  worker.postMessage({ code });
  return { done, stop: () => end({ status: "stopped", message: "Stopped." }) };
}

const text = (value) => (typeof value === "string" ? value : null);

// ---------------------------------------------------------------------------------------------
// Showing a run: output as text nodes, capped; then the value, the error, the status.
function element(tag, className, textContent = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = textContent;
  return node;
}

function button(label, testid, onClick) {
  const b = Object.assign(document.createElement("button"), { type: "button", textContent: label });
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

// Runs `code`, writing into `out` (a <pre>) and `status`; resolves to the result and its text for a model.
async function showRun(code, out, status, stopButton) {
  out.replaceChildren();
  out.dataset.status = "running";
  status.textContent = "Starting the Python sandbox…";
  let shown = 0;
  const onOutput = (chunks) => {
    for (const { stream, text: part } of chunks) {
      if (shown >= SHOWN_LIMIT) return;
      const kept = part.slice(0, SHOWN_LIMIT - shown);
      shown += kept.length;
      out.append(stream === "stderr" ? element("span", "stderr", kept) : document.createTextNode(kept));
    }
  };
  const run = runPython(code, { onOutput, onStart: () => (status.textContent = "Running…") });
  if (stopButton) {
    stopButton.hidden = false;
    stopButton.onclick = run.stop;
  }
  const result = await run.done;
  if (stopButton) stopButton.hidden = true;
  if (result.dropped) {
    out.append(element("span", "code-note", `\n… ${result.dropped.toLocaleString()} more characters of output not shown (the limit is ${result.limit.toLocaleString()}).`));
  }
  if (result.error) out.append(element("span", "stderr", result.error));
  if (result.value != null) {
    const value = element("span", "code-value", result.value);
    value.dataset.testid = "code-value";
    out.append(value);
  }
  if (result.message && result.status !== "ok") out.append(element("span", "code-note", `\n${result.message}`));
  out.dataset.status = result.status;
  status.textContent = {
    ok: `Ran in ${result.seconds?.toFixed(2)} s`, error: `Raised an error (${result.seconds?.toFixed(2)} s)`,
    timeout: "Time limit reached", stopped: "Stopped", failed: "The sandbox failed",
  }[result.status];
  return { ...result, report: out.textContent || "(no output)" };
}

// A panel under a code block: Run, then the output, a status, and an editable copy to run again.
function codePanel(code) {
  const panel = element("div", "code-run");
  panel.dataset.testid = "code-run";
  const status = element("span", "code-status");
  status.dataset.testid = "code-status";
  const stop = button("Stop", "stop-code", () => {});
  stop.hidden = true;
  const result = element("section", "code-result");
  result.hidden = true;
  result.setAttribute("aria-label", "Output of the code, from the Python sandbox (not written by the model)");
  const head = element("div", "code-result-head");
  head.append(element("span", "code-label", "Python sandbox output"), status, stop);
  const out = element("pre", "code-output");
  out.dataset.testid = "code-output";
  const editor = Object.assign(element("textarea", "code-edit"), { value: code, rows: Math.min(12, code.split("\n").length + 1), spellcheck: false });
  editor.dataset.testid = "code-edit";
  editor.setAttribute("aria-label", "An editable copy of the code");
  const edit = element("details", "code-edit-box");
  edit.append(element("summary", "", "Edit and run again"), editor);
  const start = (source) => {
    result.hidden = false;
    runButton.disabled = again.disabled = true;
    showRun(source, out, status, stop).finally(() => (runButton.disabled = again.disabled = false));
  };
  const runButton = button("▶ Run", "run-code", () => start(code));
  runButton.title = `Run in a Python sandbox: no network, no storage, ${settings.time_limit} s at most`;
  const again = button("▶ Run the edited code", "run-edited", () => start(editor.value));
  edit.append(again);
  result.append(head, out, edit);
  panel.append(runButton, result);
  return panel;
}

function panelFor(key, code) {
  const kept = key && panels.get(key);
  if (kept && kept.dataset.code === code) return kept;
  const panel = codePanel(code);
  panel.dataset.code = code;
  if (key) panels.set(key, panel);
  return panel;
}

// ---------------------------------------------------------------------------------------------
// Tool calls: shown before they run, run only once approved, their record drawn with the reply.
function codeOf(args) {
  if (args && typeof args === "object") return typeof args.code === "string" ? args.code : null;
  try { return codeOf(JSON.parse(args)); } catch { return null; }
}

function toolBlock(name, code, raw, heading = "The model asks to run this Python code:") {
  const block = element("div", "tool-call");
  block.dataset.testid = "tool-call";
  block.append(element("div", "tool-head", name === "run_python" ? heading : `The model called ${name}:`));
  const source = element("pre", "tool-code", code ?? String(raw ?? ""));
  source.dataset.testid = "tool-code";
  block.append(source);
  return block;
}

// A saved reply's tool calls, as the worker recorded them (meta.tools).
function savedToolCalls(tools) {
  return tools.filter((t) => t && typeof t === "object").map((t) => {
    const block = toolBlock(String(t.name), codeOf(t.arguments), t.arguments,
      t.ok ? "The model ran this Python code:" : "The model asked to run this Python code (not run):");
    block.dataset.ok = String(!!t.ok);
    const out = element("pre", "tool-output", typeof t.output === "string" ? t.output : "(no result)");
    out.dataset.testid = "tool-output";
    block.append(element("div", "code-label", "Result given to the model:"), out);
    return block;
  });
}

// The worker asks for a tool call: { id, name, arguments }. Resolves to { ok, output } for the model.
export async function toolCall(msg, { item, conversationId }) {
  const code = codeOf(msg.arguments);
  if (msg.name !== "run_python" || code == null) {
    return { ok: false, output: `This page has no tool ${JSON.stringify(String(msg.name))} taking these arguments.` };
  }
  const block = toolBlock(msg.name, code);
  const actions = item?.querySelector(".message-actions");
  if (actions) actions.before(block); else document.getElementById("messages")?.append(block);
  block.scrollIntoView?.({ block: "nearest" });
  let choice = alwaysApproved.has(conversationId) ? "always" : null;
  if (!choice) {
    const approval = element("div", "tool-approval");
    approval.dataset.testid = "tool-approval";
    approval.append(element("span", "", "Run it in the Python sandbox?"));
    choice = await new Promise((resolve) => {
      approval.append(button("Run once", "approve", () => resolve("once")),
        button("Always for this chat", "approve-always", () => resolve("always")),
        button("Deny", "deny", () => resolve("deny")));
      block.append(approval);
    });
    approval.remove();
  }
  if (choice === "always") alwaysApproved.add(conversationId);
  if (choice === "deny") {
    block.append(element("div", "code-note", "Denied: the code was not run."));
    return { ok: false, output: "The user declined to run this code." };
  }
  const status = element("span", "code-status");
  const out = element("pre", "code-output");
  out.dataset.testid = "code-output";
  const head = element("div", "code-result-head");
  head.append(element("span", "code-label", "Python sandbox output"), status);
  block.append(head, out);
  const result = await showRun(code, out, status);
  return { ok: true, output: result.report };
}

// ---------------------------------------------------------------------------------------------
// The hook render.js calls once a message is drawn: Run under Python blocks (a reply's rendered blocks, or
// the fenced blocks of the user's own text) and a reply's tool calls.
export function addCodeRunners(item, message) {
  if (item.dataset.streaming === "true") return;
  const id = item.dataset.messageId;
  const content = item.querySelector(".content");
  if (message.role === "assistant") {
    content.querySelectorAll("pre > code").forEach((code, index) => {
      if (!PYTHON.test(code.className)) return;
      code.parentElement.after(panelFor(id && `${id}:${index}`, code.textContent));
    });
    const tools = Array.isArray(message.meta?.tools) ? message.meta.tools : [];
    if (tools.length) content.before(...savedToolCalls(tools));
  } else if (message.role === "user" && typeof message.content === "string") {
    const blocks = [...message.content.matchAll(FENCE)].map((m) => m[1]);
    const runners = blocks.map((code, index) => panelFor(id && `${id}:${index}`, code));
    if (runners.length) content.after(...runners);
  }
}
