"""models/attention.py: the rewritten graph computes what the original computes (run with ONNX Runtime, for a
prompt and for a continuation with past key values), and graphs it does not understand are left alone."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.attention import LOGITS_TO_KEEP, attention_for_wasm, logits_for_last_positions  # noqa: E402

VOCAB, HIDDEN, HEADS, KV_HEADS, HEAD_DIM, LAYERS = 40, 32, 4, 2, 16, 2


def _decoder(**gqa_attrs):
    """A small decoder shaped like onnxruntime-genai's builder output: packed q|k|v into GroupQueryAttention
    with the rotary embedding inside, sequence lengths from the attention mask, a /lm_head/ MatMul."""
    rng = np.random.default_rng(1)
    init = {"embed": rng.normal(size=(VOCAB, HIDDEN)).astype(np.float32),
            "head": rng.normal(size=(HIDDEN, VOCAB)).astype(np.float32) * 0.3,
            "one": np.array([1], np.int64), "one_scalar": np.array(1, np.int64)}
    angles = np.outer(np.arange(64, dtype=np.float32), 1.0 / 10000 ** (np.arange(0, HEAD_DIM, 2) / HEAD_DIM))
    init["cos_cache"], init["sin_cache"] = np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)
    qkv = (HEADS + 2 * KV_HEADS) * HEAD_DIM
    nodes = [
        helper.make_node("Gather", ["embed", "input_ids"], ["h0"]),
        helper.make_node("ReduceSum", ["attention_mask", "one"], ["mask_sum"], keepdims=1),
        helper.make_node("Sub", ["mask_sum", "one"], ["seqlens"]),
        helper.make_node("Cast", ["seqlens"], ["seqlens_k"], to=TensorProto.INT32),
        helper.make_node("Shape", ["attention_mask"], ["mask_shape"]),
        helper.make_node("Gather", ["mask_shape", "one_scalar"], ["total"], axis=0),
        helper.make_node("Cast", ["total"], ["total_len"], to=TensorProto.INT32),
    ]
    attrs = {"num_heads": HEADS, "kv_num_heads": KV_HEADS, "scale": HEAD_DIM ** -0.5, "local_window_size": -1,
             "do_rotary": 1, "rotary_interleaved": 0, **gqa_attrs}
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
              helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "total"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", VOCAB])]
    hidden = "h0"
    for layer in range(LAYERS):
        init[f"qkv{layer}"] = rng.normal(size=(HIDDEN, qkv)).astype(np.float32) * 0.3
        init[f"o{layer}"] = rng.normal(size=(HEADS * HEAD_DIM, HIDDEN)).astype(np.float32) * 0.3
        past = [f"past_key_values.{layer}.key", f"past_key_values.{layer}.value"]
        present = [f"present.{layer}.key", f"present.{layer}.value"]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", KV_HEADS, "past", HEAD_DIM])
                   for n in past]
        outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in present]
        nodes += [
            helper.make_node("MatMul", [hidden, f"qkv{layer}"], [f"packed{layer}"]),
            helper.make_node("GroupQueryAttention", [f"packed{layer}", "", "", *past, "seqlens_k", "total_len",
                                                     "cos_cache", "sin_cache"], [f"attn{layer}", *present],
                             name=f"/model/layers.{layer}/attn/GroupQueryAttention", domain="com.microsoft", **attrs),
            helper.make_node("MatMul", [f"attn{layer}", f"o{layer}"], [f"out{layer}"]),
            helper.make_node("Add", [hidden, f"out{layer}"], [f"h{layer + 1}"]),
        ]
        hidden = f"h{layer + 1}"
    nodes.append(helper.make_node("MatMul", [hidden, "head"], ["logits"], name="/lm_head/MatMul"))
    graph = helper.make_graph(nodes, "decoder", inputs, outputs,
                              [numpy_helper.from_array(v, k) for k, v in init.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])


class Runner:
    def __init__(self, model):
        self.session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, ids, past=None, keep=None):
        past = past or {f"past_key_values.{n}.{k}": np.zeros((1, KV_HEADS, 0, HEAD_DIM), np.float32)
                        for n in range(LAYERS) for k in ("key", "value")}
        length = past["past_key_values.0.key"].shape[2] + len(ids)
        feeds = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, length), np.int64), **past}
        if keep is not None:
            feeds[LOGITS_TO_KEEP] = np.array(keep, np.int64)
        names = [o.name for o in self.session.get_outputs()]
        out = dict(zip(names, self.session.run(None, feeds)))
        return out["logits"], {n.replace("present", "past_key_values"): v for n, v in out.items() if n != "logits"}


def test_rewritten_attention_matches_group_query_attention_on_a_prompt_and_a_continuation():
    original = _decoder()
    rewritten = _decoder()
    assert attention_for_wasm(rewritten)
    ops = {n.op_type for n in rewritten.graph.node}
    assert "GroupQueryAttention" not in ops and {"Attention", "RotaryEmbedding"} <= ops
    assert not {"ReduceSum", "Sub"} & ops, "the sequence-length subgraph only GroupQueryAttention used is gone"
    before, after = Runner(original), Runner(rewritten)
    prompt, more = [3, 17, 5, 9, 33, 2, 11], [7, 21, 4]
    logits_a, past_a = before(prompt)
    logits_b, past_b = after(prompt)
    np.testing.assert_allclose(logits_b, logits_a, atol=1e-4)
    for name in past_a:
        np.testing.assert_allclose(past_b[name], past_a[name], atol=1e-5)
    # Several new tokens after a past: positions and the causal mask must both line up with the past.
    np.testing.assert_allclose(after(more, past_b)[0], before(more, past_a)[0], atol=1e-4)
    np.testing.assert_allclose(after([more[0]], past_b)[0], before([more[0]], past_a)[0], atol=1e-4)


@pytest.mark.parametrize("attrs", [{"local_window_size": 16}, {"softcap": 30.0}, {"do_rotary": 0}])
def test_attention_of_another_kind_is_left_alone(attrs):
    model = _decoder(**attrs)
    before = model.SerializeToString()
    assert not attention_for_wasm(model)
    assert model.SerializeToString() == before


def test_logits_for_the_last_positions_only_when_asked():
    original, trimmed = _decoder(), _decoder()
    assert logits_for_last_positions(trimmed)
    assert not logits_for_last_positions(trimmed), "a second call must not add a second input"
    prompt = [1, 2, 3, 4, 5, 6]
    full, _ = Runner(original)(prompt)
    run = Runner(trimmed)
    np.testing.assert_allclose(run(prompt, keep=0)[0], full, atol=1e-5)  # 0 keeps every position
    last, past = run(prompt, keep=1)
    assert last.shape == (1, 1, VOCAB)
    np.testing.assert_allclose(last[0, 0], full[0, -1], atol=1e-5)
    assert run(prompt, keep=2)[0].shape == (1, 2, VOCAB)
    assert run([7], past, keep=1)[0].shape == (1, 1, VOCAB)


def test_both_rewrites_together_match_the_original():
    original, both = _decoder(), _decoder()
    assert attention_for_wasm(both) and logits_for_last_positions(both)
    before, after = Runner(original), Runner(both)
    logits_a, past_a = before([5, 6, 7, 8])
    logits_b, past_b = after([5, 6, 7, 8], keep=1)
    np.testing.assert_allclose(logits_b[0, -1], logits_a[0, -1], atol=1e-4)
    np.testing.assert_allclose(after([9, 10], past_b, keep=0)[0], before([9, 10], past_a)[0], atol=1e-4)
