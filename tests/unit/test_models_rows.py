"""models/rows.py on a small int8 decoder (quantize_dynamic, then the attention rewrite, as the recipe does),
run with ONNX Runtime on CPython: a run of a few tokens gives what one token per step gives, longer runs and
one-token steps keep the original graph, and graphs without dynamic quantization are left alone. (The page's
runtime, onnxruntime-web, is checked bit for bit on the built tiny model in tests/js/rows.test.mjs.)"""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
quantization = pytest.importorskip("onnxruntime.quantization")

from models.attention import attention_for_wasm, logits_for_last_positions  # noqa: E402
from models.rows import MAX_ROWS, rows_apart  # noqa: E402
from tests.unit.test_models_attention import Runner, _decoder  # noqa: E402


def _int8(tmp_path, *, rows: bool):
    source, target = tmp_path / "fp32.onnx", tmp_path / ("rows.onnx" if rows else "int8.onnx")
    onnx.save(_decoder(), source)
    quantization.quantize_dynamic(str(source), str(target), weight_type=quantization.QuantType.QInt8,
                                  per_channel=True, op_types_to_quantize=["MatMul"],
                                  extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    model = onnx.load(target)
    assert attention_for_wasm(model) and logits_for_last_positions(model)
    if rows:
        assert rows_apart(model)
    return model


def _steps(run, ids, past):
    logits = []
    for token in ids:
        out, past = run([token], past, keep=1)
        logits.append(out[0, -1])
    return np.stack(logits), past


@pytest.mark.parametrize("rows", [True, False])
def test_a_short_run_computes_what_one_token_per_step_computes(tmp_path, rows):
    run = Runner(_int8(tmp_path, rows=rows))
    _, past = run([3, 17, 5, 9, 33, 2, 11], keep=1)
    for drafted in (2, 5, MAX_ROWS):
        ids = [(7 * i + 4) % 40 for i in range(drafted)]
        expected, expected_past = _steps(run, ids, past)
        together, together_past = run(ids, past, keep=0)
        if not rows:  # one scale per run: the tokens of a run change each other's numbers
            assert not np.array_equal(together[0], expected)
            continue
        np.testing.assert_array_equal(together[0], expected)
        for name in expected_past:
            np.testing.assert_array_equal(together_past[name], expected_past[name])


def test_one_token_steps_and_long_runs_keep_the_original_graph(tmp_path):
    original, rewritten = Runner(_int8(tmp_path, rows=False)), Runner(_int8(tmp_path, rows=True))
    prompt = [(5 * i + 1) % 40 for i in range(MAX_ROWS + 4)]
    np.testing.assert_array_equal(rewritten(prompt, keep=1)[0], original(prompt, keep=1)[0])
    _, past = original(prompt, keep=1)
    np.testing.assert_array_equal(rewritten([9], past, keep=1)[0], original([9], past, keep=1)[0])


def test_a_graph_without_dynamic_quantization_is_left_alone():
    model = _decoder()
    before = model.SerializeToString()
    assert not rows_apart(model)
    assert model.SerializeToString() == before


def test_speculative_decoding_drafts_no_more_than_the_exact_branch_takes():
    from pagellm.speculative import MAX_DRAFT

    assert MAX_DRAFT + 1 == MAX_ROWS  # the last chosen token and the draft, in one run


def test_the_file_saved_optimized_runs_with_the_basic_level_as_before(tmp_path):
    from models.export import optimize_for_runtime

    model = _int8(tmp_path, rows=True)
    path = tmp_path / "optimized.onnx"
    onnx.save(model, path)
    report = optimize_for_runtime(str(path))
    optimized = onnx.load(path)
    ops = {n.op_type for n in optimized.graph.node}
    for node in optimized.graph.node:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                ops |= {n.op_type for n in attribute.g.node}
    assert "DynamicQuantizeMatMul" in ops, ops  # fused: the optimizer ran
    assert report["level"] == "extended" and report["bytes"] == path.stat().st_size

    class Unoptimized(Runner):  # the session as the page creates it (pagellm.dtypes.session_options)
        def __init__(self, model):
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            self.session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
            self.inputs = {i.name for i in self.session.get_inputs()}

    before, after = Runner(model), Unoptimized(optimized)
    prompt = [3, 17, 5, 9, 33, 2, 11]
    np.testing.assert_array_equal(after(prompt, keep=1)[0], before(prompt, keep=1)[0])
    _, past = before(prompt, keep=1)
    np.testing.assert_array_equal(after([4, 8, 15], past, keep=0)[0], before([4, 8, 15], past, keep=0)[0])
