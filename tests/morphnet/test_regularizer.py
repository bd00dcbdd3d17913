"""The regularizer's terms against hand-computed values."""

import json

import pytest
import torch
from nets import MorphNetDepthwise, conv_bn, set_gammas
from torch import nn

from sparsemod.costs import Device
from sparsemod.morphnet import ResourceRegularizer, prune

X = torch.zeros(1, 3, 8, 8)


def two_layer() -> nn.Module:
    # conv 3->4 (3x3) + bn, conv 4->6 (1x1) + bn, mean, linear 6->5; 8x8 maps throughout
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Conv2d(4, 6, 1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))
    model[1].weight.data.fill_(0.5)  # Σγ1 = 2
    model[4].weight.data.fill_(0.25)  # Σγ2 = 1.5
    return model


def test_flops_term_and_cost_by_hand():
    reg = ResourceRegularizer(two_layer(), X, "gamma", "flops")
    # c1 = 2·64·9 = 1152: 1152·(3·Σγ1 + 4·0);  c2 = 2·64 = 128: 128·(4·Σγ2 + 6·Σγ1);
    # head c = 2: 2·(6·0 + 5·Σγ2)  (its inputs are group 2, its outputs are classes)
    assert reg.regularization_term().item() == pytest.approx(1152 * 6 + 128 * 18 + 2 * 7.5)
    assert reg.cost() == pytest.approx(1152 * 12 + 128 * 24 + 2 * 30)


def test_size_term_and_cost_by_hand():
    reg = ResourceRegularizer(two_layer(), X, "gamma", "size")
    assert reg.regularization_term().item() == pytest.approx(9 * 6 + 18 + 7.5)
    assert reg.cost() == 9 * 12 + 24 + 30  # the weights of the three layers


def test_memory_term_is_the_peak_layer():
    reg = ResourceRegularizer(two_layer(), X, "gamma", "memory")
    # conv1: 64·3 + 64·4 = 448; conv2: 64·4 + 64·6 = 640 (peak); head 6 + 5
    assert reg.cost() == 640
    assert reg.regularization_term().item() == pytest.approx(64 * 2 + 64 * 1.5)


def test_term_is_differentiable_and_alive_follows_threshold(tmp_path):
    model = two_layer()
    model[4].weight.data[:2] = 0.001
    reg = ResourceRegularizer(model, X, "gamma", "flops", threshold=0.01)
    reg.regularization_term().backward()
    assert model[1].weight.grad.abs().sum() > 0 and model[4].weight.grad.abs().sum() > 0
    assert reg.alive_counts() == {"0": 4, "3": 4, "8": 5}
    exported = reg.export(tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text()) == exported == reg.alive_counts()


def test_group_lasso_vector():
    model = two_layer()
    model[0].weight.data.fill_(2.0)
    reg = ResourceRegularizer(model, X, "group_lasso", "flops", l1_fraction=0.25)
    vector, alive = reg.group_vectors()[[g.root for g in reg.graph.groups].index("0")]
    assert torch.allclose(vector, torch.full((4,), 0.75 * 2.0 + 0.25 * 2.0))


def test_bad_choices_are_named():
    with pytest.raises(ValueError, match="algorithm: expected one of gamma|group_lasso|gates"):
        ResourceRegularizer(two_layer(), X, "l0")
    with pytest.raises(ValueError, match="target: expected one of flops|size|latency|memory"):
        ResourceRegularizer(two_layer(), X, "gamma", "energy")
    with pytest.raises(ValueError, match="ops: expected conv / linear layer names among 0, 3, 8, got 1"):
        ResourceRegularizer(two_layer(), X).cost(["1"])


# morph-net's flop_regularizer_test.py, GammaFlopsWithDepthwiseConvTest: gammas, threshold 0.45
IMAGE = torch.zeros(1, 3, 17, 19)
DEPTHWISE_GAMMAS = {"conv1": [0.8] * 7 + [0.2] * 6, "conv2": [-0.7] * 11 + [0.1] * 12,
                    "conv3": [0.6] * 10 + [-0.3] * 19, "dw1": [-0.3] + [-0.9] * 2,
                    "dw2": [0.3] * 5 + [0.9] * 10 + [-0.1] * 8}
HW = 17 * 19


def depthwise_regularizer(batchnorm: bool) -> ResourceRegularizer:
    model = MorphNetDepthwise(batchnorm)
    set_gammas(model, {k: v for k, v in DEPTHWISE_GAMMAS.items() if batchnorm or "dw" not in k})
    return ResourceRegularizer(model, IMAGE, "gamma", "flops", threshold=0.45)


def test_depthwise_costs_match_morphnet():
    reg = depthwise_regularizer(batchnorm=True)
    c = {"dw1": 2 * HW * 9, "conv1": 2 * HW * 35, "conv2": 2 * HW, "dw2": 2 * HW * 25, "conv3": 2 * 9 * 10 * 9}
    # dw1 reads the image: its 3 channels stay although only 2 of its gammas pass 0.45
    assert reg.cost(["dw1.0"]) == c["dw1"] * 3
    assert reg.cost(["conv1.0"]) == c["conv1"] * 7 * 3
    assert reg.cost(["conv2.0"]) == c["conv2"] * 15 * 3  # max(conv2, dw2) gammas: 15 alive
    assert reg.cost(["dw2.0"]) == c["dw2"] * 15
    assert reg.cost(["conv3.0"]) == c["conv3"] * 10 * 22  # inputs 7 + 15


def test_depthwise_regularization_matches_morphnet():
    reg = depthwise_regularizer(batchnorm=True)
    c_conv1, c_conv2, c_dw2 = 2 * HW * 35, 2 * HW, 2 * HW * 25
    assert reg.regularization_term(["dw1.0"]).item() == 0.0  # the image has no regularizer
    assert reg.regularization_term(["conv1.0"]).item() == pytest.approx(c_conv1 * 6.8 * 3)
    # max(|γ_conv2|, |γ_dw2|) = 5 x 0.7 + 10 x 0.9 + 8 x 0.1
    grouped = 5 * 0.7 + 10 * 0.9 + 8 * 0.1
    assert reg.regularization_term(["conv2.0"]).item() == pytest.approx(c_conv2 * grouped * 3)
    assert reg.regularization_term(["dw2.0"]).item() == pytest.approx(c_dw2 * grouped * 2)


def test_depthwise_without_batchnorm_matches_morphnet():
    reg = depthwise_regularizer(batchnorm=False)
    assert reg.cost(["dw1.0"]) == 2 * HW * 9 * 3
    assert reg.cost(["conv2.0"]) == 2 * HW * 11 * 3
    assert reg.cost(["dw2.0"]) == 2 * HW * 25 * 11  # passes conv2's 11 alive channels through
    assert reg.cost(["conv3.0"]) == 2 * 9 * 10 * 9 * 10 * 18
    assert reg.regularization_term(["dw2.0"]).item() == pytest.approx(2 * HW * 25 * 8.9 * 2)


def test_depthwise_conv_on_the_image_prunes_to_a_network_that_runs():
    model = nn.Sequential(nn.Conv2d(3, 3, 3, groups=3), nn.BatchNorm2d(3), nn.ReLU(),
                          nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 5))
    model[1].weight.data = torch.tensor([0.0, 1.0, 1.0])
    model[4].weight.data = torch.tensor([1.0] * 6 + [0.0] * 2)
    x = torch.randn(2, 3, 8, 8)
    reg = ResourceRegularizer(model, x)
    assert reg.alive_counts() == {"0": 3, "3": 6, "7": 5}
    small = prune(model, reg, x)
    assert small(x).shape == (2, 5) and small[0].in_channels == 3 and small[3].out_channels == 6


# morph-net's latency_regularizer_test.py: conv1 (13, 7x5), conv2 (23, 1x1) on the image;
# concat -> conv3 (29, 3x3, stride 2) and conv4 (31, 1x1); P100 (9300 GFLOP/s, 732 GB/s)
class LatencyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = conv_bn(3, 13, (7, 5)), conv_bn(3, 23, (1, 1))
        self.conv3, self.conv4 = conv_bn(36, 29, (3, 3), stride=2), conv_bn(36, 31, (1, 1))
        self.head = nn.Linear(60, 5)

    def forward(self, x):
        x = torch.cat([self.conv1(x), self.conv2(x)], dim=1)
        return self.head(torch.cat([self.conv3(x).mean((2, 3)), self.conv4(x).mean((2, 3))], dim=1))


def latency_regularizer(device: Device) -> ResourceRegularizer:
    model = LatencyNet()
    set_gammas(model, {"conv1": [0.8] * 7 + [0.2] * 6, "conv2": [-0.7] * 11 + [0.1] * 12,
                       "conv3": [0.6] * 10 + [-0.3] * 19, "conv4": [-0.5] * 17 + [-0.4] * 14})
    return ResourceRegularizer(model, IMAGE, "gamma", "latency", threshold=0.45, device=device)


def test_latency_matches_morphnet_numbers():
    # morph-net counts 4 B per element; at sparsemod's 1 B, a quarter of the bandwidth gives
    # the same seconds: morph-net's literal expected numbers (ns at GFLOP/s, GB/s)
    reg = latency_regularizer(Device(9300e9, 732e9 / 4))
    assert reg.cost(["conv1.0"]) * 1e9 == pytest.approx(51.0548400879)  # compute-bound
    assert reg.cost(["conv2.0"]) * 1e9 == pytest.approx(24.8907108307)  # memory-bound
    assert reg.cost(["conv3.0"]) * 1e9 == pytest.approx(45.5409851074)
    assert reg.cost(["conv4.0"]) * 1e9 == pytest.approx(63.4480857849)
    bw = 732 / 4
    assert reg.regularization_term(["conv1.0"]).item() * 1e9 == pytest.approx(
        2 * 17 * 19 * 7 * 5 * (3 * 6.8 + 7 * 0) / 9300)
    assert reg.regularization_term(["conv2.0"]).item() * 1e9 == pytest.approx(
        (17 * 19 * 0 + (3 * 8.9 + 11 * 0) + 17 * 19 * 8.9) / bw)
    assert reg.regularization_term(["conv3.0"]).item() * 1e9 == pytest.approx(
        (17 * 19 * 15.7 + 3 * 3 * (18 * 11.7 + 10 * 15.7) + 9 * 10 * 11.7) / bw)
    assert reg.regularization_term(["conv4.0"]).item() * 1e9 == pytest.approx(
        (17 * 19 * 15.7 + (18 * 14.1 + 17 * 15.7) + 17 * 19 * 14.1) / bw)


def test_latency_bound_is_decided_on_alive_counts_at_one_byte():
    # P100 at 1 B per element.  conv3 at full width (29 outputs) is compute-bound:
    # 2·9·10·9·18·29 / 9300 = 90.9 > (17·19·18 + 9·18·29 + 9·10·29) / 732 = 17.9
    reg = latency_regularizer(Device(9300e9, 732e9))
    reg.model.conv3[1].weight.data = torch.tensor([0.6] + [0.3] * 28)  # one output alive
    flops = 2 * 9 * 10 * 9 * 18 * 1 / 9300  # 3.1 ns
    memory = (17 * 19 * 18 + 9 * 18 * 1 + 9 * 10 * 1) / 732  # 8.3 ns: memory-bound now
    assert reg.cost(["conv3.0"]) * 1e9 == pytest.approx(memory) and memory > flops
    r_out = 0.6 + 0.3 * 28
    assert reg.regularization_term(["conv3.0"]).item() * 1e9 == pytest.approx(
        (17 * 19 * 15.7 + 9 * (18 * r_out + 1 * 15.7) + 9 * 10 * r_out) / 732)
    # conv1 stays compute-bound; without a bandwidth every op is
    assert reg.cost(["conv1.0"]) * 1e9 == pytest.approx(2 * 17 * 19 * 35 * 3 * 7 / 9300)
    compute_only = latency_regularizer(Device(9300e9))
    assert compute_only.cost(["conv2.0"]) * 1e9 == pytest.approx(2 * 17 * 19 * 3 * 11 / 9300)
    assert compute_only.regularization_term(["conv2.0"]).item() * 1e9 == pytest.approx(
        2 * 17 * 19 * 3 * 8.9 / 9300)


def test_latency_target_on_a_calibrated_profile():
    from sparsemod.costs import DeviceProfile, KindModel
    from sparsemod.costs.profile import CALIBRATED_KINDS

    kinds = {kind: KindModel(0.0, 0.0, 0.0) for kind in CALIBRATED_KINDS}
    kinds["conv"], kinds["linear"] = KindModel(1.0, 0.5, 0.25), KindModel(2.0, 0.0, 1.0)
    reg = ResourceRegularizer(two_layer(), X, "gamma", "latency", device=DeviceProfile("p", 9.0, kinds))
    # conv1 (3->4, 3x3, 8x8): 1 + 0.5·(64·9·3·4) MACs + 0.25·(64·3 + 9·3·4 + 64·4) bytes
    # conv2 (4->6, 1x1): 1 + 0.5·(64·4·6) + 0.25·(64·4 + 4·6 + 64·6); head (6->5): 2 + 1·(6 + 30 + 5)
    conv1 = 1 + 0.5 * 64 * 9 * 12 + 0.25 * (192 + 108 + 256)
    conv2 = 1 + 0.5 * 64 * 24 + 0.25 * (256 + 24 + 384)
    assert reg.cost() == pytest.approx(conv1 + conv2 + 2 + 41)
    # term of conv2: 0.5·64·(4·Σγ2 + 6·Σγ1) + 0.25·(64·Σγ1 + (4·Σγ2 + 6·Σγ1) + 64·Σγ2)
    assert reg.regularization_term(["3"]).item() == pytest.approx(
        0.5 * 64 * (4 * 1.5 + 6 * 2) + 0.25 * (64 * 2 + (4 * 1.5 + 6 * 2) + 64 * 1.5))


def test_memory_target_on_a_residual_network_by_hand():
    from nets import Residual

    from sparsemod.costs import working_memory
    from sparsemod.quantize import quantize

    model = Residual().eval()  # stem 3->8, then two blocks 8->6->8 added to the stream; 8x8 maps
    model.conv1[1].weight.data = torch.tensor([0.5] * 3 + [0.001] * 3)
    reg = ResourceRegularizer(model, X, "gamma", "memory", threshold=0.01)
    # SpArSe's per-layer rule, 1 B per element: stem 64·3 + 64·8 = 704; conv1 64·8 + 64·3
    # (3 of 6 alive) = 704; conv2 64·3 + 64·8 = 704; conv3, conv4 64·8 + 64·6 = 896 (peak)
    assert reg.cost() == 896
    # the peak ops' terms, R in place of A: conv3 64·(R_stream + R_conv3), conv4 64·(R_conv3 +
    # R_stream); the stream's γ (stem, conv2, conv4: all 1) sum to 8, conv3's to 6
    assert reg.regularization_term().item() == pytest.approx(2 * 64 * (8 + 6))
    # the working-memory objective keeps the stream alive across each block: at the last
    # add, the stream (512 B), the block's output (512 B) and the sum (512 B) are live
    deployed = quantize(model, "post", [torch.randn(8, 3, 8, 8)], X)
    assert working_memory(deployed, X) == 3 * 512 > reg.cost()
