// Base URLs as the settings form sees them (pure: tested with node --test). Python checks a URL before
// anything is sent (pagellm.urls); here the form only needs to know which preset a typed URL means.
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

// The endpoint a key belongs to: the base URL as typed, without surrounding space or trailing slashes.
export function endpointOf(url) { return url.trim().replace(/\/+$/, ""); }

function parse(url) {
  try { return new URL(endpointOf(url)); } catch { return null; }
}

// The preset a typed base URL means: the one whose URL it is, or for a server on this machine the one
// on its port (localhost:11434 is Ollama); "custom" for any other URL; null while the URL is incomplete.
export function providerFor(url, providers) {
  const typed = parse(url);
  if (!typed || !typed.host) return null;
  const port = (u) => u.port || (u.protocol === "https:" ? "443" : "80");
  for (const preset of providers) {
    const known = preset.base_url && parse(preset.base_url);
    if (!known) continue;
    if (endpointOf(known.href) === endpointOf(typed.href)) return preset.id;
    if (LOOPBACK.has(known.hostname) && LOOPBACK.has(typed.hostname) && port(known) === port(typed)) return preset.id;
  }
  return "custom";
}
