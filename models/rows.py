"""Make a short run of tokens compute exactly what one token per step computes (the int8 file).

Speculative decoding checks several drafted tokens in one run and keeps those the model would have chosen
one step at a time; that is exact only if each token's numbers in the run are bit for bit the ones a
one-token step gives. Two things in the int8 graph break that:

- `quantize_dynamic` quantizes each MatMul's activations with DynamicQuantizeLinear: one scale and zero
  point for the whole input tensor, so a token's keys, values and logits depend on which tokens shared its
  run;
- ONNX Runtime's attention (and its Softmax) sums over the keys in an order that depends on how many there
  are, so a query row masked to n keys in a run differs in the last bits from the same query alone with n
  keys; through the int8 rounding of the next layers those bits grow into different tokens.

`rows_apart` therefore routes runs of 2..MAX_ROWS tokens (a verification) through a copy of the graph in
which

- each DynamicQuantizeLinear is done per row: ReduceMax/ReduceMin over the hidden axis, the same range,
  scale, zero point and ties-to-even rounding ONNX Runtime uses, and each MatMulInteger is fed zero point 0
  and corrected by `zero point x column sums of the weight` (exact in int32; the sums are a constant
  subgraph ONNX Runtime folds when the session starts, so the file does not grow by them);
- each Attention node runs once per row in a Loop, with the keys and values of the rows before it, which
  is the computation of one decoding step.

One-token steps and longer runs (prompts) keep the original graph and its speed:

    embedding, rotary tables, shapes (unchanged)
    If(2 <= tokens in this run <= MAX_ROWS)
        then: per-row quantization, attention row by row
        else: the rest of the graph unchanged
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["MAX_ROWS", "rows_apart"]

# The longest run that goes through the exact branch: the last accepted token and up to 15 drafted ones.
MAX_ROWS = 16


def rows_apart(model: onnx.ModelProto) -> bool:
    """Rewrite the graph in place; False (graph untouched) when it has no DynamicQuantizeLinear or no input
    named input_ids."""
    graph = model.graph
    if not any(n.op_type == "DynamicQuantizeLinear" for n in graph.node):
        return False
    if "input_ids" not in {i.name for i in graph.input}:
        return False
    nodes = list(graph.node)
    quantized = _downstream_of_quantization(nodes)
    before = [n for i, n in enumerate(nodes) if i not in quantized]
    after = [n for i, n in enumerate(nodes) if i in quantized]
    produced_after = {o for n in after for o in n.output if o}
    outputs = [o for o in graph.output if o.name in produced_after]
    weights = {i.name for i in graph.initializer}

    rows = _branch("rows", after, outputs, produced_after)
    whole = _branch("whole", after, outputs, produced_after)
    sums = _quantize_rows(rows, weights)
    _attention_row_by_row(rows, _head_size(graph))

    condition = [
        helper.make_node("Shape", ["input_ids"], ["rows/tokens"], start=1, end=2),
        helper.make_node("Greater", ["rows/tokens", "rows/one_token"], ["rows/several"]),
        helper.make_node("LessOrEqual", ["rows/tokens", "rows/max_rows"], ["rows/few"]),
        helper.make_node("And", ["rows/several", "rows/few"], ["rows/verify"]),
        helper.make_node("Squeeze", ["rows/verify"], ["rows/verify_scalar"]),
        helper.make_node("If", ["rows/verify_scalar"], [o.name for o in outputs], name="rows/if",
                         then_branch=rows, else_branch=whole),
    ]
    del graph.node[:]
    graph.node.extend(before + sums + condition)
    graph.initializer.extend([
        numpy_helper.from_array(np.array([1], np.int64), "rows/one_token"),
        numpy_helper.from_array(np.array([MAX_ROWS], np.int64), "rows/max_rows"),
        numpy_helper.from_array(np.array(0.0, np.float32), "rows/zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "rows/one"),
        numpy_helper.from_array(np.array(255.0, np.float32), "rows/qmax"),
        numpy_helper.from_array(np.array([-1], np.int64), "rows/last_axis"),
        numpy_helper.from_array(np.array([0], np.int64), "rows/first_axis"),
        numpy_helper.from_array(np.array([1], np.int64), "rows/row_axis"),
    ])
    return True


def _downstream_of_quantization(nodes) -> set[int]:
    """Indices of the nodes that read, directly or not, a DynamicQuantizeLinear output (nodes are sorted)."""
    tainted: set[str] = set()
    found: set[int] = set()
    for index, node in enumerate(nodes):
        if node.op_type == "DynamicQuantizeLinear" or any(i in tainted for i in node.input):
            found.add(index)
            tainted.update(o for o in node.output if o)
    return found


def _branch(tag: str, nodes, outputs, produced: set[str]) -> onnx.GraphProto:
    """A copy of `nodes` whose own values are renamed `<name>/<tag>`, ending in the graph's outputs."""
    def rename(name: str) -> str:
        return f"{name}/{tag}" if name in produced else name

    copies = []
    for node in nodes:
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.name = f"{node.name}/{tag}" if node.name else ""
        copy.input[:] = [rename(i) for i in node.input]
        copy.output[:] = [rename(o) for o in node.output]
        copies.append(copy)
    branch_outputs = []
    for out in outputs:
        info = onnx.ValueInfoProto()
        info.CopyFrom(out)
        info.name = rename(out.name)
        branch_outputs.append(info)
    return helper.make_graph(copies, f"rows_{tag}", [], branch_outputs)


def _quantize_rows(branch: onnx.GraphProto, weights: set[str]) -> list[onnx.NodeProto]:
    """Per-row quantization in `branch`; returns the main-graph nodes computing each weight's column sums."""
    consumers: dict[str, list] = {}
    for node in branch.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    nodes, corrections, sums = [], {}, {}
    for node in list(branch.node):
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        x, (y, scale, zero_point) = node.input[0], node.output
        p = y  # value names are unique; node names may be empty
        zp_float, zp_int = f"{p}/zp_float", f"{p}/zp_int"
        nodes += [
            helper.make_node("ReduceMax", [x, "rows/last_axis"], [f"{p}/max"], keepdims=1),
            helper.make_node("ReduceMin", [x, "rows/last_axis"], [f"{p}/min"], keepdims=1),
            helper.make_node("Max", [f"{p}/max", "rows/zero"], [f"{p}/max0"]),  # the range includes 0
            helper.make_node("Min", [f"{p}/min", "rows/zero"], [f"{p}/min0"]),
            helper.make_node("Sub", [f"{p}/max0", f"{p}/min0"], [f"{p}/range"]),
            helper.make_node("Div", [f"{p}/range", "rows/qmax"], [f"{p}/range_scale"]),
            helper.make_node("Equal", [f"{p}/range", "rows/zero"], [f"{p}/flat"]),
            helper.make_node("Where", [f"{p}/flat", "rows/one", f"{p}/range_scale"], [scale]),
            # zero point = round(clip(0 - min / scale, 0, 255)), ties to even
            helper.make_node("Div", [f"{p}/min0", scale], [f"{p}/min_steps"]),
            helper.make_node("Neg", [f"{p}/min_steps"], [f"{p}/zp_raw"]),
            helper.make_node("Clip", [f"{p}/zp_raw", "rows/zero", "rows/qmax"], [f"{p}/zp_clipped"]),
            helper.make_node("Round", [f"{p}/zp_clipped"], [zp_float]),
            # y = saturate(round(x / scale) + zero point)
            helper.make_node("Div", [x, scale], [f"{p}/steps"]),
            helper.make_node("Round", [f"{p}/steps"], [f"{p}/steps_rounded"]),
            helper.make_node("Add", [f"{p}/steps_rounded", zp_float], [f"{p}/shifted"]),
            helper.make_node("Clip", [f"{p}/shifted", "rows/zero", "rows/qmax"], [f"{p}/saturated"]),
            helper.make_node("Cast", [f"{p}/saturated"], [y], to=TensorProto.UINT8),
            helper.make_node("Cast", [zp_float], [zp_int], to=TensorProto.INT32),
        ]
        for matmul in consumers.get(y, []):
            if matmul.op_type != "MatMulInteger" or matmul.input[2] != zero_point or matmul.input[1] not in weights:
                raise ValueError(f"{matmul.name} reads a quantized activation in a way rows_apart does not know")
            weight, weight_zp = matmul.input[1], (list(matmul.input) + [""])[3]
            column_sums = f"{weight}/column_sums"
            if weight not in sums:  # (w - wzp) summed over the input axis: a MatMulInteger of ones and w
                sums[weight] = [
                    helper.make_node("Shape", [weight], [f"{weight}/rows"], start=0, end=1),
                    helper.make_node("Concat", ["rows/row_axis", f"{weight}/rows"], [f"{weight}/ones_shape"], axis=0),
                    helper.make_node("ConstantOfShape", [f"{weight}/ones_shape"], [f"{weight}/ones"],
                                     value=numpy_helper.from_array(np.array([1], np.uint8))),
                    helper.make_node("MatMulInteger", [f"{weight}/ones", weight, "", weight_zp], [f"{weight}/sums_2d"]),
                    helper.make_node("Squeeze", [f"{weight}/sums_2d", "rows/first_axis"], [column_sums]),
                ]
            out = matmul.output[0]
            raw, correction = f"{out}/raw", f"{out}/correction"
            matmul.input[2] = ""
            matmul.output[0] = raw
            # (y - zp) . (w - wzp) = y . (w - wzp) - zp * column sums, all in int32: exact
            corrections[raw] = [helper.make_node("Mul", [zp_int, column_sums], [correction]),
                                        helper.make_node("Sub", [raw, correction], [out])]
    ordered = []
    for node in nodes:
        ordered.append(node)
        ordered.extend(corrections.get(node.output[0], []))
    del branch.node[:]
    branch.node.extend(ordered)
    return [node for group in sums.values() for node in group]


def _head_size(graph) -> int:
    """The last dimension of the past keys: every head's size."""
    for value in graph.input:
        if value.name.startswith("past_key_values."):
            return value.type.tensor_type.shape.dim[-1].dim_value
    raise ValueError("the graph has no past_key_values inputs")


def _attention_row_by_row(branch: onnx.GraphProto, head_size: int) -> None:
    """Each Attention node becomes a Loop over the run's rows: row i attends with the keys and values of
    the past and of rows 0..i, exactly as decoding step i did."""
    nodes = []
    for node in branch.node:
        if node.op_type != "Attention":
            nodes.append(node)
            continue
        q, k, v, mask, past_key, past_value = (list(node.input) + [""] * 6)[:6]
        if mask:
            raise ValueError(f"{node.name} has an attention mask: rows_apart does not handle one")
        out, present_key, present_value = node.output
        p = out
        row = f"{p}/row"
        value = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        # Shapes ONNX Runtime cannot infer inside the loop (it would warn on every row otherwise).
        row_shapes = [helper.make_tensor_value_info(f"{p}/{name}_row", TensorProto.FLOAT, ["batch", 1, heads * head_size])
                      for name, heads in (("q", attrs["q_num_heads"]), ("k", attrs["kv_num_heads"]),
                                          ("v", attrs["kv_num_heads"]), ("out", attrs["q_num_heads"]))]
        body_nodes = [
            helper.make_node("Unsqueeze", [row, "rows/first_axis"], [f"{p}/start"]),
            helper.make_node("Add", [f"{p}/start", "rows/row_axis"], [f"{p}/end"]),
            *[helper.make_node("Slice", [source, f"{p}/start", f"{p}/end", "rows/row_axis"], [f"{p}/{name}_row"])
              for source, name in ((q, "q"), (k, "k"), (v, "v"))],
            helper.make_node("Attention", [f"{p}/q_row", f"{p}/k_row", f"{p}/v_row", "", f"{p}/key_in",
                                           f"{p}/value_in"], [f"{p}/out_row", f"{p}/key_out", f"{p}/value_out"],
                             **attrs),
            helper.make_node("Identity", [f"{p}/go_on"], [f"{p}/go_on_out"]),
        ]
        body = helper.make_graph(
            body_nodes, f"{p}/rows",
            [helper.make_tensor_value_info(row, TensorProto.INT64, []),
             helper.make_tensor_value_info(f"{p}/go_on", TensorProto.BOOL, []),
             value(f"{p}/key_in"), value(f"{p}/value_in")],
            [helper.make_tensor_value_info(f"{p}/go_on_out", TensorProto.BOOL, []),
             value(f"{p}/key_out"), value(f"{p}/value_out"), row_shapes[3]], value_info=row_shapes[:3])
        nodes += [
            helper.make_node("Shape", [q], [f"{p}/rows"], start=1, end=2),
            helper.make_node("Squeeze", [f"{p}/rows"], [f"{p}/trips"]),
            helper.make_node("Loop", [f"{p}/trips", "", past_key, past_value],
                             [present_key, present_value, f"{p}/stacked"], body=body),
            # [rows, 1, 1, hidden] -> [1, rows, hidden]
            helper.make_node("Shape", [q], [f"{p}/q_shape"]),
            helper.make_node("Reshape", [f"{p}/stacked", f"{p}/q_shape"], [out]),
        ]
    del branch.node[:]
    branch.node.extend(nodes)
