"""Rewrites that make prompts fast in ONNX Runtime's WebAssembly build.

`attention_for_wasm` replaces each GroupQueryAttention node by the same arithmetic in operators whose CPU
kernels stay fast on many tokens. From onnxruntime-web 1.29 on, GroupQueryAttention sends a float prompt of
more than one token to a tiled "flash" path whose tile sizes come from the L2 cache size; WebAssembly
reports an L2 size of 0, so every tile is 1x1 and each query-key pair becomes its own tiny matrix product
(a 1,024-token prompt of SmolLM2-135M: 35 s with GroupQueryAttention, 7 s rewritten). The rewrite, per node:

    packed q|k|v -> Split -> RotaryEmbedding (q), RotaryEmbedding (k) -> Attention (opset 23, causal,
    q_num_heads / kv_num_heads, the same scale, past in, present out)

with position ids past_length .. past_length + new_tokens - 1, past_length read from the first layer's
past key. Decoding one token costs the same; the WebGPU execution provider has its own GroupQueryAttention
kernel, so only the file the WebAssembly path loads is rewritten.

`logits_for_last_positions` adds the `num_logits_to_keep` input Transformers.js feeds when a graph declares
it: during prompt processing the vocabulary head runs on the last position only (the full tensor of a
1,024-token prompt is 200 MB of logits nobody reads); 0 keeps every position.

Both leave the graph untouched and return False when it does not match what they assume.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ATTENTION_OPSET = 23  # ONNX Attention with grouped key/value heads and a past
LOGITS_TO_KEEP = "num_logits_to_keep"


def _gqa_nodes(graph) -> list | None:
    """The GroupQueryAttention nodes this rewrite understands, or None when any is of another kind."""
    nodes = [n for n in graph.node if n.op_type == "GroupQueryAttention"]
    for node in nodes:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        inputs = list(node.input) + [""] * (11 - len(node.input))
        plain = (attrs.get("do_rotary") == 1 and attrs.get("rotary_interleaved", 0) == 0
                 and attrs.get("local_window_size", -1) == -1 and not attrs.get("softcap", 0.0)
                 and not attrs.get("smooth_softmax", 0) and attrs.get("qk_output", 0) == 0)
        packed = inputs[1] == "" and inputs[2] == ""
        extras = any(inputs[9:])  # position ids / attention bias / head sink: not handled
        if not (plain and packed and not extras and inputs[3] and inputs[7] and inputs[8]):
            return None
    return nodes


def _remove_dead_nodes(graph) -> None:
    """Drop nodes and initializers nothing reads any more (the sequence lengths GroupQueryAttention took)."""
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for node in graph.node for name in node.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output if o)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    for initializer in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(initializer)


def _set_opset(model: onnx.ModelProto, version: int) -> None:
    for opset in model.opset_import:
        if opset.domain in ("", "ai.onnx") and opset.version < version:
            opset.version = version


def attention_for_wasm(model: onnx.ModelProto) -> bool:
    graph = model.graph
    nodes = _gqa_nodes(graph)
    inputs = {i.name for i in graph.input}
    if not nodes or "input_ids" not in inputs or nodes[0].input[3] not in inputs:
        return False
    p = "/model/attention_positions"
    graph.initializer.extend([
        numpy_helper.from_array(np.array([2], np.int64), f"{p}/seq_axis_of_past"),
        numpy_helper.from_array(np.array([1], np.int64), f"{p}/seq_axis_of_ids"),
        numpy_helper.from_array(np.array(1, np.int64), f"{p}/one"),
        numpy_helper.from_array(np.array([0], np.int64), f"{p}/zero_axis"),
    ])
    positions = f"{p}/position_ids"
    position_nodes = [
        helper.make_node("Shape", [nodes[0].input[3]], [f"{p}/past_shape"], name=f"{p}/PastShape"),
        helper.make_node("Gather", [f"{p}/past_shape", f"{p}/seq_axis_of_past"], [f"{p}/past_length_1d"],
                         name=f"{p}/PastLength", axis=0),
        helper.make_node("Squeeze", [f"{p}/past_length_1d", f"{p}/zero_axis"], [f"{p}/past_length"],
                         name=f"{p}/PastLengthScalar"),
        helper.make_node("Shape", ["input_ids"], [f"{p}/ids_shape"], name=f"{p}/IdsShape"),
        helper.make_node("Gather", [f"{p}/ids_shape", f"{p}/seq_axis_of_ids"], [f"{p}/new_length_1d"],
                         name=f"{p}/NewLength", axis=0),
        helper.make_node("Squeeze", [f"{p}/new_length_1d", f"{p}/zero_axis"], [f"{p}/new_length"],
                         name=f"{p}/NewLengthScalar"),
        helper.make_node("Add", [f"{p}/past_length", f"{p}/new_length"], [f"{p}/total_length"], name=f"{p}/Total"),
        helper.make_node("Range", [f"{p}/past_length", f"{p}/total_length", f"{p}/one"], [f"{p}/range"],
                         name=f"{p}/Range"),
        helper.make_node("Unsqueeze", [f"{p}/range", f"{p}/zero_axis"], [f"{p}/row"], name=f"{p}/Row"),
        helper.make_node("Expand", [f"{p}/row", f"{p}/ids_shape"], [positions], name=f"{p}/Expand"),
    ]
    for index, node in enumerate(position_nodes):
        graph.node.insert(index, node)

    for gqa in nodes:
        attrs = {a.name: helper.get_attribute_value(a) for a in gqa.attribute}
        heads, kv_heads = attrs["num_heads"], attrs["kv_num_heads"]
        packed, past_key, past_value = gqa.input[0], gqa.input[3], gqa.input[4]
        cos, sin = gqa.input[7], gqa.input[8]
        head_dim = _head_dim(graph, past_key)
        if head_dim is None:
            return False
        name = gqa.name.rsplit("/", 1)[0] + "/rewritten"
        split_sizes = f"{name}/split_sizes"
        graph.initializer.append(numpy_helper.from_array(
            np.array([heads * head_dim, kv_heads * head_dim, kv_heads * head_dim], np.int64), split_sizes))
        q, k, v = f"{name}/q", f"{name}/k", f"{name}/v"
        new = [
            helper.make_node("Split", [packed, split_sizes], [q, k, v], name=f"{name}/Split", axis=-1),
            helper.make_node("RotaryEmbedding", [q, positions, cos, sin], [f"{q}_rotated"], name=f"{name}/RotaryQ",
                             domain="com.microsoft", num_heads=heads, interleaved=0),
            helper.make_node("RotaryEmbedding", [k, positions, cos, sin], [f"{k}_rotated"], name=f"{name}/RotaryK",
                             domain="com.microsoft", num_heads=kv_heads, interleaved=0),
            helper.make_node("Attention", [f"{q}_rotated", f"{k}_rotated", v, "", past_key, past_value],
                             list(gqa.output[:3]), name=f"{name}/Attention", is_causal=1, q_num_heads=heads,
                             kv_num_heads=kv_heads, scale=float(attrs.get("scale") or head_dim ** -0.5)),
        ]
        index = list(graph.node).index(gqa)
        graph.node.remove(gqa)
        for k_, node in enumerate(new):
            graph.node.insert(index + k_, node)
    _remove_dead_nodes(graph)
    _set_opset(model, ATTENTION_OPSET)
    return True


def _head_dim(graph, past_key: str) -> int | None:
    for value in graph.input:
        if value.name == past_key:
            dims = value.type.tensor_type.shape.dim
            return dims[3].dim_value if len(dims) == 4 and dims[3].dim_value else None
    return None


def _head_input(graph) -> tuple[object, int] | None:
    """(node, input index) where the hidden states enter the vocabulary head: the head's matrix product,
    or the DynamicQuantizeLinear in front of an int8 head."""
    heads = [n for n in graph.node if n.name.startswith("/lm_head/")
             and n.op_type in ("MatMul", "MatMulInteger", "MatMulNBits")]
    if len(heads) != 1:
        return None
    producers = {o: n for n in graph.node for o in n.output}
    source = producers.get(heads[0].input[0])
    if source is not None and source.op_type == "DynamicQuantizeLinear":
        return source, 0
    return heads[0], 0


def logits_for_last_positions(model: onnx.ModelProto) -> bool:
    graph = model.graph
    if any(i.name == LOGITS_TO_KEEP for i in graph.input):
        return False
    found = _head_input(graph)
    if found is None:
        return False
    node, index = found
    hidden = node.input[index]
    p = "/lm_head/keep_last"
    graph.input.append(helper.make_tensor_value_info(LOGITS_TO_KEEP, TensorProto.INT64, []))
    graph.initializer.extend([
        numpy_helper.from_array(np.array([0], np.int64), f"{p}/axes0"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], np.int64), f"{p}/end"),
        numpy_helper.from_array(np.array([1], np.int64), f"{p}/sequence_axis"),
    ])
    # Slice(hidden, -n, end) on the sequence axis: the last n positions, every position when n is 0.
    at = list(graph.node).index(node)
    for k, new in enumerate([
        helper.make_node("Unsqueeze", [LOGITS_TO_KEEP, f"{p}/axes0"], [f"{p}/count"], name=f"{p}/Unsqueeze"),
        helper.make_node("Neg", [f"{p}/count"], [f"{p}/start"], name=f"{p}/Neg"),
        helper.make_node("Slice", [hidden, f"{p}/start", f"{p}/end", f"{p}/sequence_axis"], [f"{p}/hidden"],
                         name=f"{p}/Slice"),
    ]):
        graph.node.insert(at + k, new)
    node.input[index] = f"{p}/hidden"
    return True
