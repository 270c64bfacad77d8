// Python's memory snapshot, made at build time (build_snapshot.mjs: Pyodide started, the page's packages
// imported, its memory saved and gzipped; facts.js names the file). Loaded with Pyodide's {_loadSnapshot},
// Python starts in a fraction of a second, on a first visit as on every other. Whatever goes wrong (the
// file missing, damaged — gzip's CRC-32 catches that, and the service worker checks its sha256 — or
// refused by Pyodide) leads to Python starting as usual.

// How Python started ({snapshot: true | false}), told by python-boot.mjs to the page (watchPythonStart).
export const START_CHANNEL = "pagellm-python-start";

// The snapshot's bytes, or null when they cannot be had. A server that sends the file with
// Content-Encoding: gzip has had the browser unpack it already.
export async function fetchSnapshot(url) {
  const response = await fetch(url);
  if (!response.ok) return null;
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const unpacked = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(unpacked).arrayBuffer());
}
