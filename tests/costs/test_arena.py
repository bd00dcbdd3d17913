"""The ``arena`` metric: the ops the converter makes, TFLM's greedy planner and its
persistent bytes, each worked out by hand here (tests/deploy checks it against TFLM itself)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparsemod.config.schema import SCHEMA
from sparsemod.costs import arena, trace_activations
from sparsemod.costs.arena import LiteGraph, LiteOp, lite_graph, planned_activations
from sparsemod.quantize import quantize


def strided_net() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(48, 3)).eval()
    example = torch.rand(1, 2, 8, 8)
    return quantize(model, "post", [example], example), example


def test_the_converted_graph_and_its_arena_by_hand():
    """A stride-2 3x3 conv, padding 1, on a 2x8x8 input: TFLite's SAME pads only after (8 -> 4
    needs 1 row), so the converter pads a copy (2x10x10); the 3x4x4 map is transposed and
    reshaped before the linear layer.  Buffers (int8, 16 B aligned) and lifetimes by op:
    input 128 [0,0], padded 200->208 [0,1], conv 48 [1,2], transposed 48 [2,3], flat 48 [3,4],
    logits 3->16 [4,4].  Greedy, largest first: padded @0, input @208 (it overlaps padded),
    the 48s (latest first) flat @0, transposed @48, conv @208, logits @48: peak 208 + 128."""
    deployed, example = strided_net()
    graph = lite_graph(deployed, trace_activations(deployed, example))
    assert [op.kind for op in graph.ops] == ["PAD", "CONV_2D", "TRANSPOSE", "RESHAPE", "FULLY_CONNECTED"]
    assert graph.buffer_bytes == [128, 200, 48, 48, 48, 3]
    assert [op.channels for op in graph.ops] == [0, 3, 0, 0, 3]
    # 6 activations; weight + bias of the conv and the linear; the padding, permutation, shape
    assert graph.tensors == 6 + 4 + 3
    assert planned_activations(graph) == 208 + 128
    # per channel: 3 int32 multipliers and 3 shifts, each array 12 B -> 16 B
    runtime = (arena.BASE + arena.IO + arena.TENSOR * 13 + 2 * (16 + 16)
               + sum(arena.OP_BYTES[kind] for kind in ("PAD", "CONV_2D", "TRANSPOSE", "RESHAPE",
                                                         "FULLY_CONNECTED")))
    assert arena.tflm_arena(deployed, trace_activations(deployed, example)) == {
        "arena": 336 + runtime, "activations": 336, "runtime": runtime}


@pytest.mark.parametrize("size, stride, padding, pads", [
    (8, 1, 1, False),  # SAME: one row either side
    (7, 2, 1, False),  # SAME: (4-1)*2 + 3 - 7 = 2 rows, one either side
    (8, 2, 0, False),  # VALID
    (8, 2, 1, True),   # SAME would pad 0 before, 1 after
])
def test_a_pad_op_only_where_the_padding_is_not_tflites(size, stride, padding, pads):
    conv = nn.Sequential(nn.Conv2d(2, 2, 3, stride=stride, padding=padding), nn.ReLU()).eval()
    example = torch.rand(1, 2, size, size)
    deployed = quantize(conv, "post", [example], example)
    kinds = [op.kind for op in lite_graph(deployed, trace_activations(deployed, example)).ops]
    assert kinds == (["PAD", "CONV_2D"] if pads else ["CONV_2D"])


def test_the_planner_is_tflms_greedy_one_not_the_largest_live_set():
    """Buffers 48, 64, 16, 48, 48 B; op i writes buffer i+1 and reads buffer i (ops 1, 2 also
    buffer 0; op 3 also buffer 2).  At most 128 B are live at once (step 1: 48 + 64 + 16),
    but placed largest first (ties: latest first) -- b1 @0, b4 @0, b3 @48, b0 @96, b2 @144 --
    the arena needs 160 B."""
    graph = LiteGraph([LiteOp("ADD", (0,), 1), LiteOp("ADD", (1, 0), 2), LiteOp("ADD", (2, 0), 3),
                       LiteOp("ADD", (3, 2), 4)], [48, 64, 16, 48, 48], 0, 4, 0)
    assert planned_activations(graph) == 160


def test_a_constraint_may_name_the_arena():
    (key,) = [k for k in SCHEMA["TRAIN"] if k.name == "constraints"]
    (constraint,) = key.parse("arena <= 4096")
    assert (constraint.metric, constraint.op, constraint.bound) == ("arena", "<=", 4096)
    assert "arena" in key.expected
    with pytest.raises(ValueError):
        key.parse("tensor_arena <= 4096")
