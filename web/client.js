// The page's side of the worker protocol (pysrc/pagellm/protocol.py): `send(kind, fields)` posts a
// request and returns an async iterator of its events, ending with the request's `end`; events that
// answer no request go to `on(kind, handler)` listeners. Blobs and Files travel beside the JSON.
import { PROTOCOL_VERSION, REQUESTS } from "./protocol.js";

// A message as JSON with every Blob (or File) replaced by {"$blob": i}, and the Blobs in order.
export function pack(message) {
  const blobs = [];
  const json = JSON.stringify(message, (key, value) => {
    if (typeof Blob !== "undefined" && value instanceof Blob) return { $blob: blobs.push(value) - 1 };
    return value;
  });
  return { json, blobs };
}

export class EngineClient {
  constructor(worker) {
    this.worker = worker;
    this.streams = new Map();    // request id -> { events: [], wake }
    this.listeners = new Map();  // kind -> handler, for events that answer no request
    this.count = 0;
    worker.onmessage = (event) => this.receive(JSON.parse(event.data));
  }

  on(kind, handler) { this.listeners.set(kind, handler); }

  // Post a request whose events nobody waits for (stop, a tool's output); returns its id.
  post(kind, fields = {}) {
    const known = REQUESTS[kind];
    if (!known) throw new TypeError(`Unknown request kind ${JSON.stringify(kind)}`);
    const unknown = Object.keys(fields).filter((name) => !known.includes(name));
    if (unknown.length) throw new TypeError(`Request ${kind} has no field ${unknown.join(", ")}`);
    const id = `r${++this.count}`;
    this.worker.postMessage(pack({ v: PROTOCOL_VERSION, kind, id, ...fields }));
    return id;
  }

  send(kind, fields = {}) {
    const stream = { events: [], wake: null, ended: false };
    const id = this.post(kind, fields);
    this.streams.set(id, stream);
    const client = this;
    return {
      id,
      async *[Symbol.asyncIterator]() {
        try {
          while (true) {
            if (!stream.events.length) await new Promise((resolve) => (stream.wake = resolve));
            const event = stream.events.shift();
            if (event.kind === "end") return;
            yield event;
          }
        } finally {
          client.streams.delete(id);
        }
      },
    };
  }

  receive(event) {
    const stream = event.id != null && this.streams.get(event.id);
    if (!stream) {
      this.listeners.get(event.kind)?.(event);
      return;
    }
    stream.events.push(event);
    const wake = stream.wake;
    stream.wake = null;
    wake?.();
  }
}
