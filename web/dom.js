// The page's elements and small DOM helpers, shared by the page modules.
import { formatFixed } from "./i18n.js";

export const $ = (id) => document.getElementById(id);
export const root = document.documentElement;
export const params = new URLSearchParams(location.search);

export const ui = {
  prompt: $("prompt"), send: $("send"), stop: $("stop"), messages: $("messages"), stats: $("stats"),
  error: $("error"), errorText: $("error-text"), progress: $("progress"), progressText: $("progress-text"),
  model: $("local-model"), device: $("device"), deviceChoice: $("device-choice"), deviceNote: $("device-note"),
  provider: $("provider"), baseUrl: $("remote-base-url"), apiKey: $("remote-api-key"), remoteModel: $("remote-model"),
  rememberKey: $("remember-key"), backend: $("backend"), title: $("chat-title"), systemPrompt: $("system-prompt"),
  context: $("context"), contextMeter: $("context-meter"), contextText: $("context-text"),
  contextNotice: $("context-notice"), summaryChat: $("summary-chat"),
  search: $("chat-search"), searchResults: $("search-results"), storeNote: $("store-note"),
  hubBaseUrl: $("hub-base-url"), hubModelId: $("hub-model-id"), modelPlan: $("model-plan"),
};

// The generation settings' inputs by the setting's name in pagellm.settings.
export const settingFields = {
  temperature: $("temperature"), max_new_tokens: $("max-tokens"), top_p: $("top-p"), top_k: $("top-k"),
  repetition_penalty: $("repetition-penalty"), seed: $("seed"), speculative: $("speculative"),
};

export function button(label, testid, onClick, title = "") {
  const b = Object.assign(document.createElement("button"), { type: "button", textContent: label, title });
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

export function formatBytes(n) {
  return n >= 1e6 ? `${formatFixed(n / 1e6, 1)} MB` : `${formatFixed(Math.round(n / 1e3), 0)} kB`;
}
