"""The model path under torch.compile: one graph, and the same numbers as eager.

Compiling with inductor takes minutes on a small CPU, so the equality checks use the
"aot_eager" backend: Dynamo's graph and AOTAutograd's forward and backward graphs, run with
eager kernels.
"""

import pytest
import torch

from videomae_ssl.lightning.pretrain_module import VideoMAEPretrainModule
from videomae_ssl.loss import pixel_targets, reconstruction_loss
from videomae_ssl.masking import mask_to_indices, running_cell_mask, token_indices, tube_mask
from videomae_ssl.models import videomae_pretrain

NET = dict(
    img_size=32,
    num_frames=4,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    decoder_embed_dim=16,
    decoder_depth=1,
    decoder_num_heads=2,
)


def setup(decoder_masking):
    torch.manual_seed(0)
    net = videomae_pretrain("tiny", **NET).train()
    grid = net.grid
    video = torch.randn(2, 3, 4, 32, 32)
    mask = torch.stack([tube_mask(grid, 0.75, torch.Generator().manual_seed(i)) for i in range(2)])
    decoder_mask = None
    if decoder_masking:
        decoder_mask = torch.stack([running_cell_mask(grid, 0.5, p) for p in (0, 1)])
    return net, video, token_indices(mask, decoder_mask)


def step(net, video, ids):
    """Forward, target and loss of one pretraining step."""
    pred = net(video, ids)
    target = pixel_targets(video, 8, 2, ids=ids.decoded)
    return reconstruction_loss(pred, target, ids.loss_mask)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("decoder_masking", [False, True])
def test_step_compiles_without_graph_breaks(decoder_masking):
    net, video, ids = setup(decoder_masking)
    explained = torch._dynamo.explain(step)(net, video, ids)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_mask_to_indices_with_its_count_compiles_as_one_graph():
    mask = torch.stack(
        [tube_mask((2, 4, 4), 0.75, torch.Generator().manual_seed(i)) for i in range(3)]
    )
    compiled = torch.compile(mask_to_indices, backend="aot_eager", fullgraph=True)
    for a, b in zip(compiled(mask, 12 * 2), mask_to_indices(mask), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("decoder_masking", [False, True])
def test_compiled_model_matches_eager(decoder_masking):
    net, video, ids = setup(decoder_masking)
    loss = step(net, video, ids)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad(set_to_none=True)

    compiled = torch.compile(net, backend="aot_eager", fullgraph=True)
    pred = compiled(video, ids)
    torch.testing.assert_close(pred, net(video, ids), atol=1e-6, rtol=1e-6)
    compiled_loss = reconstruction_loss(
        pred, pixel_targets(video, 8, 2, ids=ids.decoded), ids.loss_mask
    )
    torch.testing.assert_close(compiled_loss, loss, atol=1e-6, rtol=1e-6)
    compiled_loss.backward()
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], atol=1e-6, rtol=1e-5, msg=name)


def test_the_training_step_with_the_data_paths_indices_compiles_as_one_graph():
    # The batch carries the indices the data path computes on the host: nothing in the step
    # reads a count back from the device (a .tolist() would break the graph).
    net, video, ids = setup(False)
    module = VideoMAEPretrainModule(net).train()
    batch = {
        "video": video,
        "mask": torch.zeros(2, 32, dtype=torch.bool).scatter(1, ids.decoded, True),
        "ids_visible": ids.visible,
        "ids_masked": ids.decoded,
    }
    explained = torch._dynamo.explain(module.shared_step)(batch)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert torch.equal(module.shared_step(batch)[0], step(net, video, ids))
