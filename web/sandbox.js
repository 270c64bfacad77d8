// Running Python from the chat: the Run button under each Python code block, and the "run Python" tool a
// remote model may call with the user's approval. Every run gets a fresh sandbox worker
// (sandbox-worker.js) that is terminated when the run ends or passes its time limit. What the code prints
// is data: it is only ever written as text, in a panel set apart from the model's words.
import { formatFixed, formatNumber, t } from "./i18n.js";

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
      note.textContent = t("code.bad_limit", { seconds: settings.time_limit });
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
  timer = setTimeout(() => end({ status: "failed", message: t("code.no_start", { seconds: BOOT_LIMIT_S }) }),
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
        message: t("code.timeout", { seconds: timeLimit }) }), timeLimit * 1000);
    } else if (data.type === "result") {
      end({ status: data.ok ? "ok" : "error", value: text(data.value), error: text(data.error),
        seconds: Number(data.seconds) || 0, dropped: Number(data.dropped) || 0, limit: Number(data.limit) || 0 });
    } else if (data.type === "failed") {
      end({ status: "failed", message: t("code.sandbox_stopped", { reason: text(data.message) || t("code.no_reason") }) });
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    end({ status: "failed", message: t("code.sandbox_stopped", { reason: event.message || t("code.could_not_start") }) });
  };
  worker.postMessage({ code });
  return { done, stop: () => end({ status: "stopped", message: t("code.stopped_message") }) };
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
  status.textContent = t("code.starting");
  let shown = 0;
  const onOutput = (chunks) => {
    for (const { stream, text: part } of chunks) {
      if (shown >= SHOWN_LIMIT) return;
      const kept = part.slice(0, SHOWN_LIMIT - shown);
      shown += kept.length;
      out.append(stream === "stderr" ? element("span", "stderr", kept) : document.createTextNode(kept));
    }
  };
  const run = runPython(code, { onOutput, onStart: () => (status.textContent = t("code.running")) });
  if (stopButton) {
    stopButton.hidden = false;
    stopButton.onclick = run.stop;
  }
  const result = await run.done;
  if (stopButton) stopButton.hidden = true;
  if (result.dropped) {
    out.append(element("span", "code-note", `\n${t("code.dropped", { dropped: formatNumber(result.dropped), limit: formatNumber(result.limit) })}`));
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
    ok: t("code.ran", { seconds: formatFixed(result.seconds ?? 0, 2) }), error: t("code.raised", { seconds: formatFixed(result.seconds ?? 0, 2) }),
    timeout: t("code.time_limit_reached"), stopped: t("progress.stopped"), failed: t("code.failed"),
  }[result.status];
  return { ...result, report: out.textContent || "(no output)" };  // for the model: not translated
}

// A panel under a code block: Run, then the output, a status, and an editable copy to run again.
function codePanel(code) {
  const panel = element("div", "code-run");
  panel.dataset.testid = "code-run";
  const status = element("span", "code-status");
  status.dataset.testid = "code-status";
  const stop = button(t("composer.stop"), "stop-code", () => {});
  stop.hidden = true;
  const result = element("section", "code-result");
  result.hidden = true;
  result.setAttribute("aria-label", t("code.output_label"));
  const head = element("div", "code-result-head");
  head.append(element("span", "code-label", t("code.output")), status, stop);
  const out = element("pre", "code-output");
  out.dataset.testid = "code-output";
  const editor = Object.assign(element("textarea", "code-edit"), { value: code, rows: Math.min(12, code.split("\n").length + 1), spellcheck: false });
  editor.dataset.testid = "code-edit";
  editor.setAttribute("aria-label", t("code.editable"));
  const edit = element("details", "code-edit-box");
  edit.append(element("summary", "", t("code.edit_again")), editor);
  const start = (source) => {
    result.hidden = false;
    runButton.disabled = again.disabled = true;
    showRun(source, out, status, stop).finally(() => (runButton.disabled = again.disabled = false));
  };
  const runButton = button(t("code.run"), "run-code", () => start(code));
  runButton.title = t("code.run_title", { seconds: settings.time_limit });
  const again = button(t("code.run_edited"), "run-edited", () => start(editor.value));
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

function toolBlock(name, code, raw, heading = t("tool.asks")) {
  const block = element("div", "tool-call");
  block.dataset.testid = "tool-call";
  block.append(element("div", "tool-head", name === "run_python" ? heading : t("tool.called", { name })));
  const source = element("pre", "tool-code", code ?? String(raw ?? ""));
  source.dataset.testid = "tool-code";
  block.append(source);
  return block;
}

// A saved reply's tool calls, as the worker recorded them (meta.tools).
function savedToolCalls(tools) {
  return tools.filter((call) => call && typeof call === "object").map((call) => {
    const block = toolBlock(String(call.name), codeOf(call.arguments), call.arguments,
      call.ok ? t("tool.ran") : t("tool.not_run"));
    block.dataset.ok = String(!!call.ok);
    const out = element("pre", "tool-output", typeof call.output === "string" ? call.output : t("tool.no_result"));
    out.dataset.testid = "tool-output";
    block.append(element("div", "code-label", t("tool.result")), out);
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
    approval.append(element("span", "", t("tool.approve_question")));
    choice = await new Promise((resolve) => {
      approval.append(button(t("tool.run_once"), "approve", () => resolve("once")),
        button(t("tool.always"), "approve-always", () => resolve("always")),
        button(t("tool.deny"), "deny", () => resolve("deny")));
      block.append(approval);
    });
    approval.remove();
  }
  if (choice === "always") alwaysApproved.add(conversationId);
  if (choice === "deny") {
    block.append(element("div", "code-note", t("tool.denied")));
    return { ok: false, output: "The user declined to run this code." };
  }
  const status = element("span", "code-status");
  const out = element("pre", "code-output");
  out.dataset.testid = "code-output";
  const head = element("div", "code-result-head");
  head.append(element("span", "code-label", t("code.output")), status);
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
