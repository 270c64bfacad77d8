"""Small rewrites of the builder's ONNX graph that make the page's download smaller at no cost in speed.

Both keep the arithmetic (checked numerically before rewriting) and are refused, leaving the graph as it is,
when the model does not match what they assume.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EMBEDDING = "model.embed_tokens.weight"


def _initializers(graph) -> dict:
    return {i.name: i for i in graph.initializer}


def _insert_nodes(graph, index: int, nodes: list) -> None:
    for k, node in enumerate(nodes):
        graph.node.insert(index + k, node)


def fold_rotary_caches(model: onnx.ModelProto, rope_theta: float, head_dim: int) -> bool:
    """Replace the cos/sin caches (context x head_dim/2 floats each: 2 MB for SmolLM2) by the constant
    subgraph that computes them. ONNX Runtime folds constant subgraphs when it builds the session, so the
    kernels see the same tables; only the file gets smaller. Returns False (graph untouched) when the
    caches are not plain RoPE tables for this theta (scaled RoPE, another layout)."""
    graph = model.graph
    inits = _initializers(graph)
    if "cos_cache" not in inits or "sin_cache" not in inits:
        return False
    cos, sin = numpy_helper.to_array(inits["cos_cache"]), numpy_helper.to_array(inits["sin_cache"])
    if cos.ndim != 2 or cos.shape != sin.shape or cos.shape[1] * 2 != head_dim:
        return False
    length = cos.shape[0]
    inv_freq = (1.0 / rope_theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim)).astype(np.float32)
    freqs = np.outer(np.arange(length, dtype=np.float32), inv_freq)
    # float32 angles up to `length` radians: the tables differ from the builder's by up to ~3e-4.
    if max(np.abs(np.cos(freqs) - cos).max(), np.abs(np.sin(freqs) - sin).max()) > 1e-3:
        return False
    p = "/model/rotary_tables"
    graph.initializer.remove(inits["cos_cache"])
    graph.initializer.remove(inits["sin_cache"])
    graph.initializer.extend([
        numpy_helper.from_array(inv_freq[None, :], f"{p}/inv_freq"),
        numpy_helper.from_array(np.array(0, np.float32), f"{p}/start"),
        numpy_helper.from_array(np.array(length, np.float32), f"{p}/limit"),
        numpy_helper.from_array(np.array(1, np.float32), f"{p}/delta"),
        numpy_helper.from_array(np.array([1], np.int64), f"{p}/axis"),
    ])
    _insert_nodes(graph, 0, [
        helper.make_node("Range", [f"{p}/start", f"{p}/limit", f"{p}/delta"], [f"{p}/positions"], name=f"{p}/Range"),
        helper.make_node("Unsqueeze", [f"{p}/positions", f"{p}/axis"], [f"{p}/column"], name=f"{p}/Unsqueeze"),
        helper.make_node("Mul", [f"{p}/column", f"{p}/inv_freq"], [f"{p}/angles"], name=f"{p}/Mul"),
        helper.make_node("Cos", [f"{p}/angles"], ["cos_cache"], name=f"{p}/Cos"),
        helper.make_node("Sin", [f"{p}/angles"], ["sin_cache"], name=f"{p}/Sin"),
    ])
    return True


def _embedding_gather(graph):
    found = [n for n in graph.node if n.op_type == "Gather" and n.input[0] == EMBEDDING]
    return found[0] if len(found) == 1 else None


def _head_node(graph, op_type: str):
    found = [n for n in graph.node if n.op_type == op_type and n.name.startswith("/lm_head/")]
    return found[0] if len(found) == 1 else None


def embed_from_int8_head(model: onnx.ModelProto) -> bool:
    """After int8 quantization: look token embeddings up in the head's int8 weight ([hidden, vocab], one
    scale per vocabulary row) instead of keeping a second copy of the tied matrix. 28 MB less for SmolLM2,
    and each row keeps its own scale. Returns False (graph untouched) unless the weights are tied: the
    dequantized head must equal the embedding within its quantization step."""
    graph = model.graph
    inits = _initializers(graph)
    gather, head = _embedding_gather(graph), _head_node(graph, "MatMulInteger")
    if gather is None or head is None or EMBEDDING not in inits:
        return False
    weight_name = head.input[1]
    scale_name, zero_name = weight_name.replace("_quantized", "_scale"), weight_name.replace("_quantized", "_zero_point")
    if scale_name not in inits or (zero_name in inits and numpy_helper.to_array(inits[zero_name]).any()):
        return False
    weight, scale = numpy_helper.to_array(inits[weight_name]), numpy_helper.to_array(inits[scale_name])
    embedding = numpy_helper.to_array(inits[EMBEDDING])
    if weight.shape[::-1] != embedding.shape or scale.shape != (weight.shape[1],):
        return False
    dequantized = (weight.astype(np.float32) * scale[None, :]).T
    if np.any(np.abs(dequantized - embedding) > scale[:, None] * 0.51 + 1e-6):
        return False
    ids, out, p = gather.input[1], gather.output[0], "/model/embed_tokens/from_head"
    graph.initializer.append(numpy_helper.from_array(np.array([-1], np.int64), f"{p}/last_axis"))
    index = list(graph.node).index(gather)
    graph.node.remove(gather)
    graph.initializer.remove(inits[EMBEDDING])
    _insert_nodes(graph, index, [
        helper.make_node("Gather", [weight_name, ids], [f"{p}/columns"], name=f"{p}/Gather", axis=1),
        helper.make_node("Transpose", [f"{p}/columns"], [f"{p}/rows"], name=f"{p}/Transpose", perm=[1, 2, 0]),
        helper.make_node("Cast", [f"{p}/rows"], [f"{p}/rows_float"], name=f"{p}/Cast", to=TensorProto.FLOAT),
        helper.make_node("Gather", [scale_name, ids], [f"{p}/scales"], name=f"{p}/GatherScale", axis=0),
        helper.make_node("Unsqueeze", [f"{p}/scales", f"{p}/last_axis"], [f"{p}/row_scales"], name=f"{p}/Unsqueeze"),
        helper.make_node("Mul", [f"{p}/rows_float", f"{p}/row_scales"], [out], name=f"{p}/Mul"),
    ])
    return True


def head_from_embedding(model: onnx.ModelProto) -> bool:
    """Make the (float) head multiply by the transposed embedding instead of its own copy of the tied
    matrix; ONNX Runtime folds the transpose when the session starts. Returns False (graph untouched) unless
    the two are equal."""
    graph = model.graph
    inits = _initializers(graph)
    head = _head_node(graph, "MatMul")
    if head is None or EMBEDDING not in inits or head.input[1] not in inits:
        return False
    weight = numpy_helper.to_array(inits[head.input[1]])
    if not np.array_equal(weight.T, numpy_helper.to_array(inits[EMBEDDING])):
        return False
    graph.initializer.remove(inits[head.input[1]])
    transposed = "/lm_head/embedding_transposed"
    index = list(graph.node).index(head)
    graph.node.insert(index, helper.make_node("Transpose", [EMBEDDING], [transposed], name="/lm_head/Transpose",
                                              perm=[1, 0]))
    head.input[1] = transposed
    return True

