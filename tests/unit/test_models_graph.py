"""models/graph.py: each rewrite keeps what the graph computes (run with ONNX Runtime) and refuses a graph
that does not match its assumption."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models.graph import EMBEDDING, embed_from_int8_head, fold_rotary_caches, head_from_embedding  # noqa: E402

rng = np.random.default_rng(0)


def _model(nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def _run(model, feeds):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def _rope_tables(theta, head_dim, length):
    inv = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim)
    angles = np.outer(np.arange(length, dtype=np.float32), inv)
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def _rope_model(cos, sin):
    out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("c", "s")]
    nodes = [helper.make_node("Identity", ["cos_cache"], ["c"]), helper.make_node("Identity", ["sin_cache"], ["s"])]
    return _model(nodes, [], out, {"cos_cache": cos, "sin_cache": sin})


def test_rotary_tables_become_a_folded_subgraph_with_the_same_values():
    cos, sin = _rope_tables(100000.0, 16, 512)
    model = _rope_model(cos, sin)
    assert fold_rotary_caches(model, 100000.0, 16)
    assert not {i.name for i in model.graph.initializer} & {"cos_cache", "sin_cache"}
    assert model.ByteSize() < 1000  # the tables are gone from the file
    got_cos, got_sin = _run(model, {})
    np.testing.assert_allclose(got_cos, cos, atol=1e-3)
    np.testing.assert_allclose(got_sin, sin, atol=1e-3)


@pytest.mark.parametrize("theta, head_dim", [(10000.0, 16), (100000.0, 8)])
def test_rotary_tables_of_another_kind_are_left_alone(theta, head_dim):
    cos, sin = _rope_tables(100000.0, 16, 64)
    model = _rope_model(cos, sin)
    before = model.SerializeToString()
    assert not fold_rotary_caches(model, theta, head_dim)
    assert model.SerializeToString() == before


def _tied_int8_model(vocab=50, hidden=8, tie=True):
    embedding = rng.normal(size=(vocab, hidden)).astype(np.float32)
    scale = (np.abs(embedding).max(axis=1) / 127).astype(np.float32)
    weight = np.round(embedding.T / scale[None, :]).astype(np.int8)  # [hidden, vocab], one scale per row
    if not tie:
        embedding = embedding + 0.5
    inits = {EMBEDDING: embedding, "lm_head.MatMul.weight_quantized": weight, "lm_head.MatMul.weight_scale": scale,
             "lm_head.MatMul.weight_zero_point": np.zeros(vocab, np.int8), "x_zero": np.array(0, np.int8)}
    nodes = [
        helper.make_node("Gather", [EMBEDDING, "ids"], ["embeds"], name="/model/embed_tokens/Gather"),
        helper.make_node("MatMulInteger", ["x", "lm_head.MatMul.weight_quantized", "x_zero",
                                           "lm_head.MatMul.weight_zero_point"], ["acc"], name="/lm_head/MatMul_quant"),
    ]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "s"]),
              helper.make_tensor_value_info("x", TensorProto.INT8, ["b", "s", hidden])]
    outputs = [helper.make_tensor_value_info("embeds", TensorProto.FLOAT, None),
               helper.make_tensor_value_info("acc", TensorProto.INT32, None)]
    return _model(nodes, inputs, outputs, inits), embedding, scale


def test_embedding_is_read_from_the_int8_head():
    model, embedding, scale = _tied_int8_model()
    feeds = {"ids": np.array([[3, 0, 49, 3]], np.int64), "x": rng.integers(-5, 5, (1, 4, 8)).astype(np.int8)}
    before_embeds, before_acc = _run(model, feeds)
    assert embed_from_int8_head(model)
    assert EMBEDDING not in {i.name for i in model.graph.initializer}
    after_embeds, after_acc = _run(model, feeds)
    np.testing.assert_array_equal(after_acc, before_acc)
    assert after_embeds.shape == before_embeds.shape
    # within half a quantization step of each row's own scale
    assert np.all(np.abs(after_embeds - before_embeds) <= scale[feeds["ids"]][..., None] * 0.51)


def test_untied_embedding_stays():
    model, _, _ = _tied_int8_model(tie=False)
    assert not embed_from_int8_head(model)
    assert EMBEDDING in {i.name for i in model.graph.initializer}


def _float_head_model(tie=True, vocab=40, hidden=8):
    embedding = rng.normal(size=(vocab, hidden)).astype(np.float32)
    head = embedding.T.copy() if tie else rng.normal(size=(hidden, vocab)).astype(np.float32)
    nodes = [helper.make_node("Gather", [EMBEDDING, "ids"], ["embeds"], name="/model/embed_tokens/Gather"),
             helper.make_node("MatMul", ["embeds", "lm_head.MatMul.weight"], ["logits"], name="/lm_head/MatMul")]
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["b", "s"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)]
    return _model(nodes, inputs, outputs, {EMBEDDING: embedding, "lm_head.MatMul.weight": head})


def test_float_head_multiplies_by_the_embedding_transposed():
    model = _float_head_model()
    feeds = {"ids": np.array([[1, 2, 39]], np.int64)}
    (before,) = _run(model, feeds)
    size = model.ByteSize()
    assert head_from_embedding(model)
    assert model.ByteSize() < size * 0.6
    (after,) = _run(model, feeds)
    np.testing.assert_array_equal(after, before)


def test_untied_float_head_stays():
    model = _float_head_model(tie=False)
    assert not head_from_embedding(model)
