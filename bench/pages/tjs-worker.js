// tjs.js in a module worker, as pagellm runs its engine off the main thread.
import { load, generate } from "./tjs.js";

onmessage = async ({ data }) => {
  try {
    if (data.type === "load") postMessage({ type: "loaded", ...(await load(data)) });
    else if (data.type === "generate") {
      const result = await generate(data, (event) => postMessage(event));
      postMessage({ type: "done", ...result });
    }
  } catch (err) {
    postMessage({ type: "error", message: String(err?.message || err) });
  }
};
