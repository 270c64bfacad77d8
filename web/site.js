// The deployed copy's own settings (site.json, written by the build from site.toml): title, tagline,
// starter prompts and defaults, with a named preset applied when the link says ?preset=NAME; and the
// link that reopens the page with the current choices (never a key).
import { $, params, ui } from "./dom.js";
import { state } from "./state.js";
import { backendValue } from "./settings-form.js";
import { showError } from "./status.js";
import { t } from "./i18n.js";

// The site's settings with the link's preset applied; an unknown preset is named (in the welcome of
// an empty chat) and ignored.
export function resolveSite(site) {
  const name = params.get("preset");
  const preset = (name && site.presets?.[name]) || {};
  // `preset`: what the link's preset sets; it wins over the visitor's saved choices, the site's defaults do not.
  const resolved = { ...site, ...preset, preset, notice: "" };
  if (name && !site.presets?.[name]) {
    const known = Object.keys(site.presets ?? {});
    resolved.notice = known.length ? t("site.no_preset_known", { name, known: known.join(", ") }) : t("site.no_preset", { name });
  }
  delete resolved.presets;
  return resolved;
}

export function applySite(site) {
  state.site = site;
  document.title = site.title;
  $("site-title").textContent = site.title;
  $("site-tagline").textContent = site.tagline;
}

// A link to this page with the current engine, model and endpoint (never the key).
export function settingsLink() {
  const url = new URL(location.href.split("?")[0]);
  const preset = params.get("preset");
  if (preset) url.searchParams.set("preset", preset);
  url.searchParams.set("backend", backendValue());
  if (backendValue() === "local") {
    url.searchParams.set("model", ui.model.value);
    url.searchParams.set("device", ui.deviceChoice.value);
  } else {
    url.searchParams.set("provider", ui.provider.value);
    url.searchParams.set("base_url", ui.baseUrl.value.trim());
    if (ui.remoteModel.value.trim()) url.searchParams.set("remote_model", ui.remoteModel.value.trim());
  }
  return url.href;
}

export async function copySettingsLink(target) {
  const link = settingsLink();
  try {
    await navigator.clipboard.writeText(link);
    target.textContent = t("settings.link_copied");
  } catch {
    target.textContent = t("settings.copy_failed");
    showError(t("settings.copy_refused", { link }));
  }
  setTimeout(() => (target.textContent = t("settings.copy_link")), 1500);
}
