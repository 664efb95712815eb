"""The per-scale networks: the instance norm, channels-last layout and the critic without norm layers."""

import pytest
import torch
from torch import nn

import singan_seg as ss
from singan_seg.model.networks import InstanceNorm, ScaleDiscriminator, ScaleGenerator, init_weights


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("channels_last", [False, True])
def test_instance_norm_equals_torch_instance_norm(batch, channels_last):
    torch.manual_seed(0)
    x = torch.randn(batch, 6, 9, 11) * 3 + 2
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ours, reference = InstanceNorm(6), nn.InstanceNorm2d(6, affine=True)
    with torch.no_grad():
        for norm in (ours, reference):
            norm.weight.copy_(torch.linspace(0.5, 1.5, 6))
            norm.bias.copy_(torch.linspace(-1, 1, 6))
    x1 = x.clone().requires_grad_(True)
    y1, y2 = ours(x1), reference(x)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    assert y1.is_contiguous(memory_format=torch.channels_last) == channels_last  # no copies to another layout
    # per image and channel: zero mean and unit std before the affine part, so the mean is the bias
    torch.testing.assert_close(y1.mean(dim=(2, 3)), ours.bias.expand(batch, 6), atol=1e-5, rtol=0)
    # the reference gradient from the formula in float64; the incoming gradient channels-last, as the
    # convolutions pass it back (torch's own instance_norm gets that case wrong)
    x64 = x.double().requires_grad_(True)
    mean, var = x64.mean((2, 3), keepdim=True), x64.var((2, 3), unbiased=False, keepdim=True)
    scale, shift = ours.weight.double()[:, None, None], ours.bias.double()[:, None, None]
    y64 = (x64 - mean) / torch.sqrt(var + 1e-5) * scale + shift
    incoming = torch.randn(y1.shape).contiguous(memory_format=torch.channels_last)
    (y1 * incoming).sum().backward()
    (y64 * incoming.double()).sum().backward()
    torch.testing.assert_close(x1.grad, x64.grad.float(), atol=1e-5, rtol=1e-4)


def test_instance_norm_checkpoints_load_into_torch_instance_norm_and_back():
    assert set(InstanceNorm(4).state_dict()) == set(nn.InstanceNorm2d(4, affine=True).state_dict())


@pytest.mark.parametrize("channels_last", [False, True])
def test_networks_keep_their_layout_and_compute_the_same_either_way(channels_last):
    torch.manual_seed(0)
    gen = ScaleGenerator(8, 5, 3, "instance", channels_last=channels_last)
    critic = ScaleDiscriminator(8, 5, 3, "instance", channels_last=channels_last)
    reference_gen, reference_critic = ScaleGenerator(8, 5, 3, "instance"), ScaleDiscriminator(8, 5, 3, "instance")
    reference_gen.load_state_dict(gen.state_dict())
    reference_critic.load_state_dict(critic.state_dict())
    noise, prev = torch.randn(1, 4, 20, 24), torch.randn(1, 4, 20, 24)  # plain NCHW inputs are accepted
    out = gen(noise, prev)
    assert out.shape == prev.shape
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(out, reference_gen(noise, prev), atol=1e-5, rtol=1e-5)
    assert critic(out).shape == (1, 1, 10, 14)
    torch.testing.assert_close(critic(out), reference_critic(out), atol=1e-5, rtol=1e-5)


def test_critic_without_norm_layers():
    cfg = ss.get_preset("fast")
    assert cfg.critic_norm_layer == "none"
    assert ss.get_preset("fast", ["critic_norm=same"]).critic_norm_layer == "instance"
    assert ss.get_preset("paper").critic_norm_layer == "batch"
    critic = ScaleDiscriminator(8, 5, 3, cfg.critic_norm_layer)
    init_weights(critic, torch.Generator().manual_seed(0))
    assert not any(isinstance(m, (nn.BatchNorm2d, InstanceNorm)) for m in critic.modules())
    assert all(k.endswith(("0.weight", "0.bias")) or k.startswith("tail") for k in critic.state_dict())
    with pytest.raises(ss.InputError, match="critic_norm"):
        ss.get_preset("fast", ["critic_norm=layer"])
