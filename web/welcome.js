// An empty chat explains itself: what runs where, that nothing leaves the machine (or where messages
// go), and starter prompts from the site's settings (site.toml) that suit a small model.
import { $, ui } from "./dom.js";
import { state } from "./state.js";
import { backendValue } from "./settings-form.js";

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
    let host = "the endpoint you set";
    try { host = new URL(ui.baseUrl.value).host || host; } catch { /* not typed yet */ }
    return `Messages go to ${host}, and only there. Chats stay saved in this browser.`;
  }
  const model = state.catalog?.models.find((m) => m.id === ui.model.value)?.name ?? "A small language model";
  const device = { webgpu: "your GPU (WebGPU)", wasm: "your CPU (WebAssembly)" }[ui.device.textContent] ?? "your computer";
  return `${model} runs in this page, on ${device}: nothing you type leaves this machine, and it works offline ` +
    "after the first visit. It is small: good for short tasks, not a source of facts.";
}
