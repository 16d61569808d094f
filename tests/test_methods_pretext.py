"""Pretext-task generators and the losses of the pretext, clustering, infomax and generative methods.

Generators: the inputs and targets they return are consistent (undo / re-cut / luma checks).
Losses: values on hand-made inputs where the answer is known. That every method learns in a short
run is tests/test_methods_learn.py.
"""

import math

import pytest
import torch
from method_support import build_method

from sslviz.augment.pretext import (
    LUMA,
    RELATIVE_OFFSETS,
    colorization_task,
    combine_luma_chroma,
    denoising_task,
    jigsaw_permutations,
    jigsaw_task,
    mask_patches,
    relative_position_layout,
    relative_position_task,
    undo_jigsaw,
)
from sslviz.core.errors import ConfigError
from sslviz.methods import get_method
from sslviz.methods.models import SmallCNN
from sslviz.training.recipes import default_pipeline


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- generators ---------------------------------------------------------------------------------


@pytest.mark.parametrize("grid,size", [(2, 32), (3, 48)])
def test_jigsaw_undo_restores_the_images_exactly(grid, size):
    x = torch.randint(0, 256, (12, 3, size, size), dtype=torch.uint8, generator=_gen())
    perms = jigsaw_permutations(grid, 10 if grid == 3 else None)
    inputs, targets = jigsaw_task(x, perms, _gen(1))
    assert inputs.shape == x.shape and inputs.dtype == x.dtype
    assert targets.min() >= 0 and targets.max() < len(perms)
    assert torch.equal(undo_jigsaw(inputs, targets, perms), x)
    t = size // grid  # position i of the puzzle shows tile perm[i] of the original
    p = perms[targets[0]]
    for i in range(grid * grid):
        src, dst = int(p[i]), i
        got = inputs[0, :, dst // grid * t:(dst // grid + 1) * t, dst % grid * t:(dst % grid + 1) * t]
        want = x[0, :, src // grid * t:(src // grid + 1) * t, src % grid * t:(src % grid + 1) * t]
        assert torch.equal(got, want)


def test_jigsaw_permutation_sets():
    two = jigsaw_permutations(2)
    assert two.shape == (24, 4) and len({tuple(p) for p in two.tolist()}) == 24
    three = jigsaw_permutations(3, 20, seed=3)
    assert torch.equal(three, jigsaw_permutations(3, 20, seed=3))  # deterministic from the seed
    assert all(sorted(p) == list(range(9)) for p in three.tolist())
    hamming = (three[:, None] != three[None]).sum(-1) + 99 * torch.eye(20, dtype=torch.long)
    assert hamming.min() >= 6  # maximal-Hamming selection: every pair differs in most positions


@pytest.mark.parametrize("jitter", [0, 1])
def test_relative_position_neighbour_is_at_the_claimed_offset(jitter):
    x = torch.rand(64, 3, 32, 32, generator=_gen())
    centre, neighbour, targets = relative_position_task(x, _gen(1), gap=2, jitter=jitter)
    cell, patch, origin = relative_position_layout(32, gap=2)
    assert centre.shape == neighbour.shape == (64, 3, patch, patch)
    assert set(targets.tolist()) == set(range(8))

    def found(img, p, row, col):  # is p cut from img at cell (row, col), within the jitter?
        for dy in range(-jitter, jitter + 1):
            for dx in range(-jitter, jitter + 1):
                top = min(max(origin + row * cell + 1 + dy, 0), 32 - patch)
                left = min(max(origin + col * cell + 1 + dx, 0), 32 - patch)
                if torch.equal(img[:, top:top + patch, left:left + patch], p):
                    return True
        return False

    for i in range(64):
        dr, dc = RELATIVE_OFFSETS[targets[i]]
        assert found(x[i], centre[i], 1, 1)
        assert found(x[i], neighbour[i], 1 + dr, 1 + dc)
        assert not found(x[i], neighbour[i], 1, 1)


@pytest.mark.parametrize("patch,ratio", [(8, 0.5), (4, 0.75)])
def test_mask_covers_the_claimed_fraction(patch, ratio):
    x = torch.rand(10, 3, 32, 32, generator=_gen())
    masked, mask = mask_patches(x, patch, ratio, _gen(1))
    assert mask.shape == (10, 1, 32, 32)
    assert torch.allclose(mask.mean((1, 2, 3)), torch.full((10,), ratio))
    blocks = mask[:, 0].unfold(1, patch, patch).unfold(2, patch, patch)  # whole patches, never parts
    assert torch.all((blocks.amin((-1, -2)) == blocks.amax((-1, -2))))
    hidden = mask.expand_as(x).bool()
    assert torch.equal(masked[~hidden], x[~hidden]) and torch.all(masked[hidden] == 0.5)


def test_mask_fits_images_whose_size_is_not_a_multiple_of_the_patch():
    x = torch.rand(6, 1, 28, 28, generator=_gen())
    masked, mask = mask_patches(x, 8, 0.5, _gen(1))  # a 4×4 grid, the last row and column 4 px
    assert mask.shape == (6, 1, 28, 28)
    cells = torch.nn.functional.pad(mask, (0, 4, 0, 4))[:, 0].unfold(1, 8, 8).unfold(2, 8, 8)[..., :4, :4]
    assert torch.all(cells.amin((-1, -2)) == cells.amax((-1, -2)))  # whole (cut) patches, never parts
    assert torch.all(cells[..., 0, 0].flatten(1).sum(1) == 8)  # half of the 16 patches of each image
    assert torch.equal(masked[mask.expand_as(x) == 0], x[mask.expand_as(x) == 0])


def test_masked_loss_ignores_visible_pixels_and_is_zero_for_a_perfect_painting():
    from sslviz.methods.inpainting import masked_reconstruction_loss

    x = torch.rand(4, 3, 32, 32, generator=_gen())
    _, mask = mask_patches(x, 8, 0.5, _gen(1))
    wrong_outside = torch.where(mask.bool().expand_as(x), x, torch.rand_like(x))
    assert masked_reconstruction_loss(wrong_outside, x, mask).item() == 0.0
    wrong_inside = torch.where(mask.bool().expand_as(x), x + 0.5, x)
    assert masked_reconstruction_loss(wrong_inside, x, mask).item() == pytest.approx(0.25)


def test_colorization_input_is_the_luma_of_the_target():
    x = torch.rand(5, 3, 16, 16, generator=_gen())
    luma, chroma = colorization_task(x)
    want = LUMA[0] * x[:, 0] + LUMA[1] * x[:, 1] + LUMA[2] * x[:, 2]
    assert torch.allclose(luma[:, 0], want)
    assert torch.allclose(combine_luma_chroma(luma, chroma), x, atol=1e-5)
    gray = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    # gray: no chroma (to 1e-4: the torchvision luma weights sum to 0.9999)
    assert torch.allclose(colorization_task(gray)[1], torch.zeros(5, 2, 16, 16), atol=1e-3)


def test_colour_classes_tile_the_chroma_plane():
    from sslviz.methods.colorization import CHROMA_MAX, bin_centres, chroma_bins

    x = torch.rand(64, 3, 8, 8, generator=_gen())
    x[:8] = torch.eye(3).repeat(3, 1)[:8, :, None, None]  # pure red, green, blue: the extreme chroma
    _, chroma = colorization_task(x)
    for bins in (4, 8):
        classes = chroma_bins(chroma, bins)
        assert classes.min() >= 0 and classes.max() < bins * bins
        # every pixel's class centre is within half a cell of its chroma: the grid covers every RGB colour
        centre = bin_centres(bins)[classes].permute(0, 3, 1, 2)
        cell = 2 * torch.tensor(CHROMA_MAX) / bins
        assert torch.all((centre - chroma).abs() <= cell[None, :, None, None] / 2 + 1e-6)
        assert torch.equal(chroma_bins(bin_centres(bins).T[None, :, :, None], bins)[0, :, 0], torch.arange(bins * bins))
    gray = torch.full((1, 3, 4, 4), 0.3)
    assert chroma_bins(colorization_task(gray)[1], 2).unique().numel() == 1  # no colour: one class


def test_colorization_loss_known_values():
    from sslviz.methods.colorization import chroma_bins, colorization_loss

    chroma = colorization_task(torch.rand(3, 3, 4, 4, generator=_gen()))[1]
    truth = torch.nn.functional.one_hot(chroma_bins(chroma, 4), 16).permute(0, 3, 1, 2).float()
    assert colorization_loss(50 * truth, chroma, 4).item() < 1e-6  # sure and right
    assert colorization_loss(torch.zeros(3, 16, 4, 4), chroma, 4).item() == pytest.approx(math.log(16))  # no idea
    assert colorization_loss(-50 * truth, chroma, 4).item() > 40  # sure and wrong
    # a uniform guess over the saturated colours beats a sure grey guess when the hue is unknown
    hues = colorization_task(torch.eye(3)[:, :, None, None])[1]  # red, green, blue pixels
    classes = chroma_bins(hues, 4).flatten()
    spread = torch.full((3, 16, 1, 1), -50.0)
    spread[:, classes] = 0.0
    grey = torch.full((3, 16, 1, 1), -50.0)
    grey[:, chroma_bins(torch.zeros(1, 2, 1, 1), 4).item()] = 50.0
    assert colorization_loss(spread, hues, 4).item() == pytest.approx(math.log(3), rel=1e-4)
    assert colorization_loss(grey, hues, 4).item() > 50


def test_colorization_paints_the_annealed_mean_colour():
    from sslviz.methods.colorization import CHROMA_MAX

    method = build_method("colorization")
    luma = torch.rand(2, 1, 32, 32, generator=_gen())
    with torch.no_grad():
        painted = method.colorize(luma)
    assert painted.shape == (2, 2, 32, 32)
    assert torch.all(painted.abs() <= torch.tensor(CHROMA_MAX)[None, :, None, None])  # valid chroma


def test_colorization_refuses_grayscale_datasets():
    with pytest.raises(ConfigError, match="colorization needs colour images"):
        get_method("colorization")(SmallCNN(1), num_classes=10, pipeline=default_pipeline("digits"))


def test_denoising_corruption():
    x = torch.rand(8, 3, 32, 32, generator=_gen())
    noisy, clean = denoising_task(x, sigma=0.0, drop=0.3, generator=_gen(1))
    assert torch.equal(clean, x) and noisy.min() >= 0 and noisy.max() <= 1
    dropped = (noisy == 0).all(1)
    assert 0.25 < dropped.float().mean() < 0.35
    assert torch.equal(noisy.permute(0, 2, 3, 1)[~dropped], x.permute(0, 2, 3, 1)[~dropped])
    from sslviz.methods.denoising_ae import denoising_loss

    assert denoising_loss(clean, x).item() == 0.0


# --- losses on inputs with a known answer -------------------------------------------------------


def test_sinkhorn_codes_have_uniform_marginals():
    from sslviz.methods.swav import sinkhorn

    z = torch.nn.functional.normalize(torch.randn(64, 16, generator=_gen()), dim=1)
    protos = torch.nn.functional.normalize(torch.randn(8, 16, generator=_gen(1)), dim=1)
    scores = z @ protos.T  # cosine scores, as in SwAV
    scores[:, 0] += 0.5  # every sample prefers prototype 0: Sinkhorn must still share them out
    q = sinkhorn(scores, epsilon=0.05, iterations=50)
    assert torch.allclose(q.sum(1), torch.ones(64), atol=1e-5)  # one distribution per sample
    assert torch.allclose(q.sum(0), torch.full((8,), 64 / 8), atol=1e-3)  # equal use of prototypes
    q3 = sinkhorn(scores, epsilon=0.05, iterations=3)  # SwAV's 3 iterations: most of the way there
    softmax_use = torch.softmax(scores / 0.05, 1).sum(0)
    assert (q3.sum(0) - 8).abs().max() < 0.1 * (softmax_use - 8).abs().max()


def test_swav_loss_prefers_agreeing_views():
    from sslviz.methods.swav import swav_loss

    z = torch.nn.functional.normalize(torch.randn(64, 16, generator=_gen()), dim=1)
    protos = torch.nn.functional.normalize(torch.randn(8, 16, generator=_gen(1)), dim=1)
    s = z @ protos.T
    assert swav_loss(s, s).item() < swav_loss(s, s[torch.randperm(64, generator=_gen(2))]).item()


def test_deep_infomax_loss_perfect_vs_uninformative():
    from sslviz.methods.deep_infomax import dim_loss

    n, l = 8, 4
    g = 20 * torch.eye(n)  # every image its own direction: real scores 400, fake 0 ...
    local = g[:, None, :].expand(n, l, n) - 10  # ... shifted so that fake pairs score strongly negative
    assert dim_loss(local, g, "jsd").item() < 1e-3
    assert dim_loss(local, g, "infonce").item() < 1e-3
    zeros = torch.zeros(n, l, 4)
    assert dim_loss(zeros, torch.zeros(n, 4), "jsd").item() == pytest.approx(2 * math.log(2))
    assert dim_loss(zeros, torch.zeros(n, 4), "infonce").item() == pytest.approx(math.log(n))
    rand = dim_loss(torch.randn(n, l, 16, generator=_gen()), torch.randn(n, 16, generator=_gen(1)), "jsd")
    assert rand.item() > 1.0


def test_gan_losses_known_values():
    from sslviz.methods.gan import discriminator_loss, generator_loss

    assert discriminator_loss(torch.zeros(4), torch.zeros(4)).item() == pytest.approx(2 * math.log(2))
    assert discriminator_loss(torch.full((4,), 30.0), torch.full((4,), -30.0)).item() < 1e-6
    assert generator_loss(torch.zeros(4)).item() == pytest.approx(math.log(2))
    assert generator_loss(torch.full((4,), 30.0)).item() < 1e-6


def test_deepcluster_pseudo_labels_fill_every_cluster():
    from sslviz.methods.deepcluster import cluster_features, deepcluster_loss

    rng = torch.Generator().manual_seed(0)
    blobs = torch.cat([torch.randn(100, 16, generator=rng) * 0.01 + 5 * torch.eye(16)[i] for i in range(3)])
    labels = cluster_features(blobs.numpy(), k=6, pca_dim=8)  # 3 natural groups, 6 clusters asked for
    assert sorted(set(labels.tolist())) == list(range(6))  # no cluster left empty
    logits = torch.zeros(4, 3)
    weights = torch.tensor([1.0, 2.0, 3.0])
    assert deepcluster_loss(logits, torch.tensor([0, 1, 2, 2]), weights).item() == pytest.approx(math.log(3))


def test_reconstruction_losses_are_zero_for_a_perfect_answer():
    from sslviz.methods.jigsaw import jigsaw_loss
    from sslviz.methods.relative_position import relative_position_loss

    sure = torch.full((3, 24), -50.0)
    sure[torch.arange(3), torch.tensor([0, 5, 23])] = 50.0
    assert jigsaw_loss(sure, torch.tensor([0, 5, 23])).item() < 1e-6
    assert relative_position_loss(torch.zeros(2, 8), torch.tensor([1, 7])).item() == pytest.approx(math.log(8))


# --- methods: optimisation, training runs, baselines --------------------------------------------
