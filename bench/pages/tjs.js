// The plain-JavaScript Transformers.js peer: the same library, ONNX Runtime files and model folder as
// the pagellm page, set up the way the page sets it up (local files only, wasm from vendor/ort/).
// Used on the main thread (transformers.html?worker=0) or inside tjs-worker.js (the default).
import { env, AutoTokenizer, AutoModelForCausalLM, TextStreamer } from "../vendor/transformers.min.js";

let tokenizer = null;
let model = null;
const now = () => performance.timeOrigin + performance.now();  // comparable across page and worker

export async function load({ model: id, dtype = "q8", threads = null }) {
  const started = now();
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.localModelPath = new URL("../models/", import.meta.url).pathname;
  env.backends.onnx.wasm.wasmPaths = new URL("../vendor/ort/", import.meta.url).href;
  if (threads) env.backends.onnx.wasm.numThreads = threads;
  tokenizer = await AutoTokenizer.from_pretrained(id);
  model = await AutoModelForCausalLM.from_pretrained(id, { device: "wasm", dtype });
  return { started, ready: now(), threads: env.backends.onnx.wasm.numThreads ?? null,
    isolated: globalThis.crossOriginIsolated === true };
}

// Greedy chat reply to `prompt`, or to a whole chat (`messages`, read again from the start each time, as a
// page without a cache between turns does); `emit` gets {type: "text", text} as the streamer releases text.
export async function generate({ prompt, messages, maxTokens }, emit) {
  const inputs = tokenizer.apply_chat_template(messages ?? [{ role: "user", content: prompt }],
    { add_generation_prompt: true, return_dict: true });
  let tokens = 0, first = null, last = null, text = "";
  const streamer = new TextStreamer(tokenizer, {
    skip_prompt: true, skip_special_tokens: true,
    callback_function: (piece) => { text += piece; emit({ type: "text", text: piece }); },
    token_callback_function: (ids) => { const t = now(); tokens += ids.length; first ??= t; last = t; },
  });
  const started = now();
  await model.generate({ ...inputs, max_new_tokens: maxTokens, do_sample: false, repetition_penalty: 1.0, streamer });
  return { tokens, prompt_tokens: inputs.input_ids.dims[1], engine_start: started, engine_first: first,
    engine_last: last, engine_end: now(), text };
}
