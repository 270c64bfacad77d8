// The settings form: generation settings, the backend switch, remote presets and API keys, saved in
// localStorage. Keys are never saved unless the user ticked "remember on this device", and a key is
// only ever shown and sent for the endpoint it was typed for.
import { $, formatBytes, params, settingFields, ui } from "./dom.js";
import { state } from "./state.js";
import { showError } from "./status.js";
import { SETTING_BOUNDS } from "./facts.js";
import { endpointOf } from "./endpoints.js";
import { localeFromBrowser, matchLocale, t } from "./i18n.js";

const store = window.localStorage;
const SETTINGS_KEY = "pagellm:settings";
const KEYS_KEY = "pagellm:keys";

export function loadJSON(key) {
  try { return JSON.parse(store.getItem(key)); } catch { return null; }
}

export function saveJSON(key, value) {
  try { store.setItem(key, JSON.stringify(value)); } catch (err) {
    showError(t("error.settings_not_saved", { reason: err.name }));
  }
}

export function readSettingsForm() {
  const settings = {};
  for (const [name, input] of Object.entries(settingFields)) {
    if (input.value !== "") settings[name] = input.value;
  }
  return settings;
}

export function saveSettings() {
  const saved = {
    backend: backendValue(), model: ui.model.value, device: ui.deviceChoice.value, provider: ui.provider.value,
    base_url: ui.baseUrl.value, remote_model: ui.remoteModel.value, system_prompt: ui.systemPrompt.value,
    remember_key: ui.rememberKey.checked, form: readSettingsForm(),
    hub_base_url: ui.hubBaseUrl.value, hub_model_id: ui.hubModelId.value, use_hub: state.useHub,
    theme: $("theme").value, locale: $("locale").value,
  };
  saveJSON(SETTINGS_KEY, saved);
  if (ui.rememberKey.checked) saveJSON(KEYS_KEY, Object.fromEntries(state.keys));
  else store.removeItem(KEYS_KEY);
}

// The form's limits and defaults are pagellm.settings' own (facts.js, written by the build).
function applyBounds() {
  for (const [name, bounds] of Object.entries(SETTING_BOUNDS)) {
    const input = settingFields[name];
    if (!input) continue;
    Object.assign(input, { min: bounds.min, max: bounds.max, step: bounds.step });
    input.value = bounds.default;
  }
}

// The theme: "system" follows prefers-color-scheme; app.css reads <html data-theme>.
function restoreTheme(saved) {
  const select = $("theme");
  select.value = ["light", "dark"].includes(saved.theme) ? saved.theme : "system";
  document.documentElement.dataset.theme = select.value;
  select.addEventListener("change", () => { document.documentElement.dataset.theme = select.value; saveSettings(); });
}

// The language: the link's ?locale= (English when it names no catalogue), else the one saved, else the
// site's (site.toml), else the browser's; the switch shows "as the browser" only when none chose one.
export function chooseLocale(saved, site = {}) {
  const link = params.get("locale");
  const chosen = link ? matchLocale(link) ?? "en" : matchLocale(saved.locale) ?? matchLocale(site.locale);
  $("locale").value = chosen ?? "";
  return chosen ?? localeFromBrowser();
}

export function restoreSettings() {
  applyBounds();
  const saved = loadJSON(SETTINGS_KEY) || {};
  restoreTheme(saved);
  if (saved.form) for (const [name, value] of Object.entries(saved.form)) if (settingFields[name]) settingFields[name].value = value;
  if (saved.system_prompt) ui.systemPrompt.value = saved.system_prompt;
  if (saved.device) ui.deviceChoice.value = saved.device;
  ui.rememberKey.checked = !!saved.remember_key;
  ui.hubBaseUrl.value = saved.hub_base_url || "";
  ui.hubModelId.value = saved.hub_model_id || "";
  state.useHub = !!saved.use_hub && !params.get("model");
  for (const [url, key] of Object.entries(loadJSON(KEYS_KEY) || {})) state.keys.set(url, key);
  setBackend(params.get("backend") || saved.backend || "local");
  if (params.get("device")) ui.deviceChoice.value = params.get("device");
  return saved;
}

// The models, Hub suggestions and remote presets this site offers, with the saved choices, the link's
// and the site's defaults (site.toml). The test model is offered only when a link names it.
export function offerChoices(catalog, providers, saved) {
  const site = state.site ?? {};
  const preset = site.preset ?? {};
  // A choice comes from the link, else the link's preset, else what the visitor saved, else the site's default.
  const pick = (param, field, savedField = field) => params.get(param) || preset[field] || saved[savedField] || site[field] || "";
  state.catalog = catalog;
  state.providers = providers;
  const wanted = pick("model", "model");
  const offered = catalog.models.filter((m) => !m.for_tests || m.id === wanted);
  ui.model.replaceChildren(...offered.map((m) => Object.assign(document.createElement("option"),
    { value: m.id, textContent: `${m.name} (${formatBytes(m.download_bytes ?? 0)})` })));
  ui.model.value = offered.some((m) => m.id === wanted) ? wanted : catalog.default;
  ui.deviceChoice.value = pick("device", "device") || "auto";
  $("hub-suggestions").replaceChildren(...(catalog.suggested ?? []).map((m) =>
    Object.assign(document.createElement("option"), { value: m.id, textContent: m.note ?? "" })));
  ui.provider.replaceChildren(...providers.map((p) => Object.assign(document.createElement("option"), { value: p.id, textContent: p.name })));
  ui.baseUrl.value = pick("base_url", "base_url");
  ui.remoteModel.value = params.get("remote_model") || saved.remote_model || "";
  applyProvider(pick("provider", "provider") || "openai", { keepUrl: true });
  const prompt = preset.system_prompt || saved.system_prompt || site.system_prompt;
  if (prompt && prompt !== ui.systemPrompt.value) {
    ui.systemPrompt.value = prompt;
    if (!state.conversation.messages.length) state.conversation.system_prompt = prompt;
  }
}

export function backendValue() { return ui.backend.getAttribute("value"); }

export function setBackend(value) {
  ui.backend.setAttribute("value", value);
  ui.backend.textContent = value;
  document.body.dataset.backend = value;
  for (const radio of document.querySelectorAll("input[name=backend-choice]")) radio.checked = radio.value === value;
}

export function showKeyForUrl() {
  ui.apiKey.value = state.keys.get(endpointOf(ui.baseUrl.value)) || "";
}

export function rememberKey() {
  const endpoint = endpointOf(ui.baseUrl.value);
  if (ui.apiKey.value) state.keys.set(endpoint, ui.apiKey.value); else state.keys.delete(endpoint);
}

export function applyProvider(id, { keepUrl = false } = {}) {
  const preset = state.providers.find((p) => p.id === id) || state.providers.at(-1);
  if (!preset) return;
  ui.provider.value = preset.id;
  if (!keepUrl || !ui.baseUrl.value) ui.baseUrl.value = preset.base_url || "";
  if (!keepUrl || !ui.remoteModel.value) ui.remoteModel.value = preset.example_model || "";
  showProviderNote();
  showKeyForUrl();
}

// What the chosen provider needs (a key or not) and its notes (providers.py, not translated).
export function showProviderNote() {
  const preset = state.providers?.find((p) => p.id === ui.provider.value);
  if (!preset) return;
  const key = { required: t("provider.key_required"), optional: t("provider.key_optional"), none: t("provider.key_none") }[preset.key] ?? "";
  $("provider-note").textContent = [key, preset.notes || ""].join(" ").trim();
}

// What a request's `backend` field says: the local model, or the remote endpoint with its own key.
export function backendConfig() {
  if (backendValue() === "local") {
    return { kind: "local", model: ui.model.value, device: ui.deviceChoice.value };
  }
  const base_url = ui.baseUrl.value.trim();
  return { kind: "remote", provider: ui.provider.value, base_url, model: ui.remoteModel.value.trim(),
    api_key: state.keys.get(endpointOf(base_url)) || "" };
}
