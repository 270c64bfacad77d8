// An empty chat explains itself: what runs where, that nothing leaves the machine (or where messages
// go), and starter prompts from the site's settings (site.toml) that suit a small model.
import { $, ui } from "./dom.js";
import { state } from "./state.js";
import { backendValue } from "./settings-form.js";
import { t } from "./i18n.js";

export function renderWelcome() {
  const empty = !state.conversation?.messages?.length;
  $("welcome").hidden = !empty;
  if (!empty) return;
  $("welcome-text").textContent = whereItRuns();
  $("site-notice").textContent = state.site?.notice ?? "";
  const starters = state.site?.starter_prompts ?? [];
  $("starters").replaceChildren(...starters.map((text) => {
    const item = document.createElement("li");
    const choose = Object.assign(document.createElement("button"), { type: "button", textContent: text });
    choose.dataset.testid = "starter-prompt";
    choose.addEventListener("click", () => {
      ui.prompt.value = text;
      ui.send.click();  // sent now, or as soon as the model is ready
    });
    item.append(choose);
    return item;
  }));
}

function whereItRuns() {
  if (backendValue() === "remote") {
    let host = t("welcome.your_endpoint");
    try { host = new URL(ui.baseUrl.value).host || host; } catch { /* not typed yet */ }
    return t("welcome.remote", { host });
  }
  const model = state.catalog?.models.find((m) => m.id === ui.model.value)?.name ?? t("welcome.a_small_model");
  const device = { webgpu: t("welcome.on_gpu"), wasm: t("welcome.on_cpu") }[ui.device.textContent] ?? t("welcome.on_computer");
  return t("welcome.local", { model, device });
}
