// The lab page's link to the rest of the site (build_lab.py adds this script to lab/lab/index.html).
// - The site's service worker (sw.js) serves the lab too: every file checked against the build's hashes,
//   kept for offline use, and the page made cross-origin isolated, which the Pyodide kernel needs to
//   reach the notebook's files and to read input() without JupyterLite's own service worker.
// - The chat page's service worker does not fetch the lab at install; a lab visit asks it to keep the lab.
// - A link back to the chat.
// - Atomics.waitAsync always answers with a promise: the kernel's synchronous calls (coincident, through
//   which input() and the kernel's replies pass) read `.value.then`, but when the other thread has already
//   written, waitAsync answers at once with a string ("not-equal"), the call throws
//   ("A(...).value.then is not a function") and its answer is lost: the cell never ends.
(() => {
  const site = new URL("../", document.currentScript.src);  // this file is <site>/lab/pagellm-lab.js

  const waitAsync = Atomics.waitAsync;
  if (waitAsync) {
    Atomics.waitAsync = (...args) => {
      const result = waitAsync(...args);
      return result.async ? result : { async: false, value: Promise.resolve(result.value) };
    };
  }

  function banner(text, kind) {
    const note = document.createElement("div");
    note.dataset.pagellm = kind;
    note.setAttribute("role", "alert");
    note.textContent = text;
    note.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:10000;padding:6px 12px;" +
      "background:#b00020;color:#fff;font:13px system-ui,sans-serif";
    document.body.append(note);
  }

  function backLink() {
    const link = document.createElement("a");
    link.href = site.href;
    link.textContent = "← Chat";
    link.title = "Back to the pagellm chat page";
    link.dataset.testid = "back-to-chat";
    link.style.cssText = "position:fixed;top:4px;right:10px;z-index:10000;padding:2px 8px;border-radius:4px;" +
      "font:13px system-ui,sans-serif;text-decoration:none;background:var(--jp-layout-color2,#eee);" +
      "color:var(--jp-ui-font-color1,#000)";
    document.body.append(link);
  }

  async function keepLab() {
    const worker = navigator.serviceWorker.controller;
    if (worker) worker.postMessage({ type: "keep", prefix: "lab/" });
  }

  async function startServiceWorker() {
    if (!("serviceWorker" in navigator)) return;
    navigator.serviceWorker.addEventListener("message", (event) => {
      const msg = event.data || {};
      if (msg.type === "integrity" || msg.type === "quota") banner(msg.message, msg.type);
      if (msg.type === "kept" && msg.prefix === "lab/") document.documentElement.dataset.pagellmOffline = "ready";
    });
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      // Isolation comes with the worker's responses: reload once to get it (and SharedArrayBuffer).
      if (!self.crossOriginIsolated && !sessionStorage.getItem("pagellm-lab-reloaded")) {
        sessionStorage.setItem("pagellm-lab-reloaded", "1");
        location.reload();
        return;
      }
      keepLab();
    });
    try {
      await navigator.serviceWorker.register(new URL("sw.js", site), { scope: site.href });
    } catch (err) {
      banner(`Offline use of the lab is unavailable here (${err.message}).`, "offline");
      return;
    }
    if (navigator.serviceWorker.controller) keepLab();
  }

  document.addEventListener("DOMContentLoaded", backLink);
  startServiceWorker();
})();
