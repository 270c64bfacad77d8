// How speculative decoding chooses tokens after a verification run (web/engine-env.js chooseTokens, as built
// into dist/): greedy as Transformers.js's generate() does, and speculative sampling whose replies have the
// distribution plain sampling gives (a statistical test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { chooseTokens } from "../../dist/engine-env.js";

const GREEDY = { penalty: 1, eos: [0], promptLength: 2, minLength: 0, minNewTokens: 0, sample: null };
const logitsOf = (rows) => ({ dims: [1, rows.length, rows[0].length], data: Float32Array.from(rows.flat()) });

test("greedy: the first largest value after each fed token", () => {
  const logits = logitsOf([[0, 3, 1, 3], [0, 1, 5, 2], [9, 1, 1, 1]]);
  assert.deepEqual(chooseTokens(logits, [5, 6, 1, 2, 3], 2, GREEDY), [1, 2, 0]);
});

test("greedy: the repetition penalty covers every token up to each row, and end-of-sequence waits for min_new_tokens", () => {
  // Row 0 has seen tokens 7 and 1: 1 (4 / 2 = 2) loses to 2 (3). Row 1 has seen 2 as well: 3 wins.
  const logits = logitsOf([[0, 4, 3, 2.5, 0, 0, 0, 0], [0, 4, 3, 2.5, 0, 0, 0, 0]]);
  const rules = { ...GREEDY, penalty: 2 };
  assert.deepEqual(chooseTokens(logits, [7, 1, 2], 1, rules), [2, 3]);
  const ending = logitsOf([[9, 1, 2, 0], [9, 1, 2, 0]]);
  assert.deepEqual(chooseTokens(ending, [3, 3, 1], 1, { ...GREEDY, minNewTokens: 1 }), [2, 0]);
});

// A seeded generator, so the statistical test gives the same answer every run.
function seeded(seed) {
  return () => {
    seed = (seed * 1664525 + 1013904223) % 4294967296;
    return seed / 4294967296;
  };
}

// A toy model over 5 tokens whose next-token scores depend on the last token.
const VOCABULARY = 5;
const scoresAfter = (token) => Array.from({ length: VOCABULARY }, (_, t) => Math.sin(3 * token + 2 * t) * 2);
const SAMPLE = { ...GREEDY, eos: [], sample: { temperature: 0.8, topK: 4 } };

function softmaxTopK(scores, { temperature, topK }) {
  const order = scores.map((s, t) => [s, t]).sort((a, b) => b[0] - a[0]).slice(0, topK);
  const exp = order.map(([s]) => Math.exp(s / temperature));
  const sum = exp.reduce((a, b) => a + b, 0);
  const p = new Array(scores.length).fill(0);
  order.forEach(([, t], i) => { p[t] = exp[i] / sum; });
  return p;
}

test("sampling: two tokens after a draft have the distribution plain sampling gives", () => {
  const random = seeded(7);
  const prompt = [1, 2];
  const counts = new Map();
  const trials = 40_000;
  for (let trial = 0; trial < trials; trial++) {
    // A draft of two tokens, often wrong: drawn uniformly.
    const draft = [Math.floor(random() * VOCABULARY), Math.floor(random() * VOCABULARY)];
    const ids = [...prompt, ...draft];
    const rows = [prompt[1], ...draft].map(scoresAfter);
    const choices = chooseTokens(logitsOf(rows), ids, 1, SAMPLE, random);
    let kept = 0;
    while (kept < draft.length && choices[kept] === draft[kept]) kept++;
    const reply = [...draft.slice(0, kept), choices[kept]];
    if (reply.length < 2) {  // the second token comes from the next run, after the first
      const next = chooseTokens(logitsOf([scoresAfter(reply[0])]), [...prompt, reply[0]], 2, SAMPLE, random);
      reply.push(next[0]);
    }
    const key = `${reply[0]},${reply[1]}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  // Expected: p(a | 2) * p(b | a), with p the top-4 softmax at temperature 0.8.
  let chiSquare = 0, cells = 0;
  const first = softmaxTopK(scoresAfter(prompt[1]), SAMPLE.sample);
  for (let a = 0; a < VOCABULARY; a++) {
    const second = softmaxTopK(scoresAfter(a), SAMPLE.sample);
    for (let b = 0; b < VOCABULARY; b++) {
      const expected = trials * first[a] * second[b];
      const seen = counts.get(`${a},${b}`) ?? 0;
      if (expected === 0) { assert.equal(seen, 0, `${a},${b} is outside the top k`); continue; }
      chiSquare += (seen - expected) ** 2 / expected;
      cells++;
    }
  }
  // 15 degrees of freedom (16 cells): the 0.999 quantile is 37.7.
  assert.equal(cells, 16);
  assert.ok(chiSquare < 37.7, `chi-square ${chiSquare.toFixed(1)} over ${cells} cells`);
});

test("sampling: a draft outside the top k is always replaced", () => {
  const random = seeded(3);
  const scores = [5, 4, 3, 2, -9];
  for (let i = 0; i < 200; i++) {
    const choices = chooseTokens(logitsOf([scores, scores]), [0, 4], 0, SAMPLE, random);
    assert.equal(choices.length, 1);
    assert.notEqual(choices[0], 4);
  }
});
