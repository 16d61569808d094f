"""Explainer cards: one short card per method, to read aloud in class.

A card answers four questions: what is predicted from what, the loss as a formula (LaTeX, for
st.latex), the invariance it buys, and what collapse (or failure) looks like. It is shown next to
the project's own loss function (``inspect.getsource`` of the pure function in the method's
module), so the formula on the slide and the code that trains are side by side.

The text is written here rather than generated from the method classes: the classes' longer
``description`` paragraphs explain design choices; a card is four sentences a teacher can say.
A method added later without a card gets a fallback built from its class attributes (and the
tests list every method that has none).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    method: str
    title: str
    family: str
    paper: str
    predicts: str  # what is predicted from what
    formula: str  # LaTeX, no surrounding $
    invariance: str  # what the representation learns to ignore (or keep)
    collapse: str  # what failure looks like, and what prevents it
    loss_function: str  # name of the pure function in sslviz/methods/<module>.py ("" for baselines)
    written: bool = True  # False for a fallback card


# method -> (title, predicts, formula, invariance, collapse, loss function)
_CARDS: dict[str, tuple[str, str, str, str, str, str]] = {
    "rotation": (
        "RotNet: which way is up?",
        "From an image turned by 0°, 90°, 180° or 270°, predict the turn (4 classes).",
        r"\mathcal{L} = -\frac{1}{4}\sum_{y=0}^{3} \log p_\theta\big(y \mid \mathrm{rot}(x, 90^\circ y)\big)",
        "None to rotation: the features must keep the object's orientation (and so its identity).",
        "It cannot collapse to a constant (that scores 25%), but it can cheat on cues like borders, and it "
        "has nothing to learn when images have no 'up' (the shapes here are drawn at random angles).",
        "rotation_loss",
    ),
    "jigsaw": (
        "Jigsaw puzzles",
        "From the tiles of an image in shuffled order, predict which of P fixed shuffles was used.",
        r"\mathcal{L} = -\log p_\theta\big(S \mid t_{\sigma_S(1)}, \dots, t_{\sigma_S(T)}\big)",
        "Ignores where each tile was cut; must know what object parts look like and where they go.",
        "A constant answer scores chance (loss log P). The failure is a shortcut: edges that continue across "
        "a cut give the order away, hence the gap and the jitter between tiles.",
        "jigsaw_loss",
    ),
    "relative-position": (
        "Context prediction: where is this patch?",
        "From the centre patch and one neighbour, predict which of the 8 neighbours it is.",
        r"\mathcal{L} = -\log p_\theta\big(y \mid x_{\mathrm{centre}}, x_{\mathrm{neighbour}}\big), \quad y \in \{1,\dots,8\}",
        "Invariant to small shifts (the jitter), but it must know how parts of objects are arranged.",
        "A constant answer scores 1/8. Shortcuts are the risk: lines continuing across the gap, or lens "
        "colour fringes, solve it without understanding anything.",
        "relative_position_loss",
    ),
    "colorization": (
        "Colorization",
        "From the grayscale (luma) image, predict the two colour channels of every pixel.",
        r"\mathcal{L} = \frac{1}{HW}\sum_{h,w} \big\| \hat{Y}_{h,w} - Y_{h,w} \big\|^2, \quad \hat{Y} = f_\theta(L)",
        "Colour-blind by construction: the network never sees colour, so its features cannot depend on it.",
        "Painting everything grey-brown (the average of plausible colours) is the lazy answer: the loss "
        "stalls near the variance of the colours. On shapes, colours are random: nothing to learn.",
        "colorization_loss",
    ),
    "inpainting": (
        "Inpainting (masked image modelling)",
        "From an image with half of its patches hidden, paint the hidden pixels back.",
        r"\mathcal{L} = \frac{\sum m \odot (\hat{x} - x)^2}{C \sum m}, \quad \hat{x} = f_\theta\big((1 - m) \odot x + \tfrac{1}{2} m\big)",
        "None to what is hidden: to fill a gap it must know how shapes continue.",
        "Filling with the local average colour (blurry grey blobs) is the failure: the loss stays near the "
        "pixel variance of the hidden parts.",
        "masked_reconstruction_loss",
    ),
    "denoising-ae": (
        "Denoising autoencoder",
        "From a noisy copy of the image (noise added, pixels dropped), reconstruct the clean image.",
        r"\mathcal{L} = \mathbb{E}_{\tilde{x} \sim q(\tilde{x} \mid x)} \big\| g_\theta(f_\theta(\tilde{x})) - x \big\|^2",
        "Invariant to the noise only: position, colour and detail are all kept.",
        "Without noise it could learn the identity; a failing run outputs the same blurry average image "
        "whatever the input.",
        "denoising_loss",
    ),
    "simclr": (
        "SimCLR: find your twin",
        "From one augmented view, pick the other view of the same image among the 2N-1 views in the batch.",
        r"\ell_{i,j} = -\log \frac{\exp(\mathrm{sim}(z_i, z_j)/\tau)}{\sum_{k \neq i} \exp(\mathrm{sim}(z_i, z_k)/\tau)}",
        "Exactly what the augmentations change (crop, colour, flips): the augmentations choose what it forgets.",
        "The negatives push images apart, which prevents collapse; a collapsing run has its loss stuck at "
        "log(2N-1) and the embedding spread falling to zero.",
        "nt_xent_loss",
    ),
    "moco": (
        "MoCo: a dictionary of keys",
        "From a query view, pick its own key (the other view, from a slow momentum encoder) among a queue "
        "of thousands of keys from earlier batches.",
        r"\mathcal{L}_q = -\log \frac{\exp(q \cdot k_+/\tau)}{\exp(q \cdot k_+/\tau) + \sum_{k_-} \exp(q \cdot k_-/\tau)}",
        "What the augmentations change, as in SimCLR; the queue gives many negatives without a huge batch.",
        "Negatives prevent collapse; failure shows as the loss stuck near log(queue size), the positive no "
        "more similar than the negatives.",
        "infonce_loss",
    ),
    "cpc": (
        "Contrastive predictive coding",
        "From the rows of an image seen so far, pick the true features of a patch further down among "
        "the image's other patches.",
        r"\hat{z}_{i+k} = W_k c_i, \quad \mathcal{L} = -\log \frac{\exp(\hat{z}_{i+k} \cdot z_{i+k})}{\sum_l \exp(\hat{z}_{i+k} \cdot z_l)}",
        "Ignores pixel detail that differs from patch to patch; keeps the global shape that predicts what is below.",
        "Negatives prevent collapse; the shortcut is predicting from pixels the context has already seen, "
        "so the row just below is skipped.",
        "cpc_loss",
    ),
    "byol": (
        "BYOL: predict your slow twin",
        "From one view, predict the projection a slowly moving target network makes of the other view.",
        r"\mathcal{L} = \Big\| \frac{p_\theta}{\|p_\theta\|} - \frac{z'_\xi}{\|z'_\xi\|} \Big\|^2 = 2 - 2\cos(p_\theta, z'_\xi)",
        "What the augmentations change.",
        "No negatives, so mapping everything to one point would solve the loss; the predictor and the slow "
        "target prevent it in practice. Collapse: loss near 0, the gauge's spread near 0, kNN falling; a "
        "partial collapse shows as the effective rank falling to a few directions.",
        "byol_loss",
    ),
    "simsiam": (
        "SimSiam: stop the gradient",
        "From one view's projection, predict the other view's projection, which is held fixed for the step.",
        r"\mathcal{L} = \tfrac{1}{2} D\big(p_1, \mathrm{sg}(z_2)\big) + \tfrac{1}{2} D\big(p_2, \mathrm{sg}(z_1)\big), \quad D(p, z) = -\frac{p}{\|p\|} \cdot \frac{z}{\|z\|}",
        "What the augmentations change.",
        "Collapse is a real risk: without the stop-gradient the loss reaches -1 at once and every output is "
        "the same. Watch the output spread (z_std) and the gauge's spread: heading to 0 means collapse.",
        "simsiam_loss",
    ),
    "barlow-twins": (
        "Barlow Twins: an identity matrix",
        "Make the cross-correlation matrix between the two views' embedding dimensions the identity.",
        r"\mathcal{L} = \sum_i (1 - \mathcal{C}_{ii})^2 + \lambda \sum_i \sum_{j \neq i} \mathcal{C}_{ij}^2",
        "What the augmentations change (the diagonal), with no two dimensions saying the same thing.",
        "A collapsed embedding has no variance, so its correlations cannot reach 1: collapse is penalised "
        "directly; the off-diagonal term stops dimensional collapse (all dimensions saying the same thing, "
        "a low effective rank on the gauge). Watch the diagonal (towards 1) and the off-diagonal (towards 0).",
        "barlow_twins_loss",
    ),
    "vicreg": (
        "VICReg: three terms, three pictures",
        "Pull the two views' embeddings together while every dimension keeps its spread and the dimensions "
        "stay decorrelated.",
        r"\mathcal{L} = \lambda\, s(Z, Z') + \mu\,[v(Z) + v(Z')] + \nu\,[c(Z) + c(Z')]",
        "What the augmentations change (the invariance term s).",
        "The variance term v forbids collapse outright: a collapsed embedding pays its full price (μ). "
        "Collapse would show as v jumping towards 1; the covariance term c stops dimensional collapse "
        "(a low effective rank on the gauge).",
        "vicreg_loss",
    ),
    "dino": (
        "DINO: self-distillation",
        "From one view, predict the teacher's sharpened, centred distribution over K prototypes for the other view.",
        r"\mathcal{L} = -\sum_k P_t(x)_k \log P_s(x')_k, \quad P_t = \mathrm{softmax}\big((g_t(x) - c)/\tau_t\big)",
        "What the augmentations change.",
        "Two collapses, balanced by two tricks: without centring one prototype wins for every image; "
        "without sharpening the teacher goes uniform (loss log K).",
        "dino_loss",
    ),
    "swav": (
        "SwAV: swap the cluster codes",
        "From one view, predict the cluster code (over K prototypes, found by Sinkhorn-Knopp) of the other view.",
        r"\mathcal{L} = \ell(z_t, q_s) + \ell(z_s, q_t), \quad \ell(z_t, q_s) = -\sum_k q_s^{(k)} \log \mathrm{softmax}_k(z_t^\top c_k/\tau)",
        "What the augmentations change, comparing images with prototypes instead of with each other.",
        "Everything in one cluster is the collapse; the equal-use rule of Sinkhorn-Knopp prevents it. Codes "
        "that stay uniform (loss log K) mean ε is too large.",
        "swav_loss",
    ),
    "deepcluster": (
        "DeepCluster: learn your own clusters",
        "From an augmented view, predict the k-means cluster that the image's own features fell into this epoch.",
        r"\min_\theta \frac{1}{N}\sum_n w_{y_n}\, \ell\big(g(f_\theta(x_n)), y_n\big), \quad y_n = \text{k-means cluster of } f_\theta(x_n)",
        "Whatever survives the augmentations and the clustering; a random network already groups by colour and layout.",
        "One giant cluster is the collapse: empty clusters are re-seeded by splitting big ones, and clusters "
        "are weighted by 1/size.",
        "deepcluster_loss",
    ),
    "deep-infomax": (
        "Deep InfoMax: does this patch belong?",
        "From a location of the feature map and a summary of the whole image, tell real pairs (same image) "
        "from fake ones (another image).",
        r"\mathcal{L} = -\,\mathbb{E}\Big[ T(x_l, y) - \log \sum_{x'} \exp T(x'_l, y) \Big]",
        "Keeps what is shared by every location of the image (what the object is), drops local noise.",
        "A collapsed encoder scores real and fake pairs alike: the loss stays at log(batch size).",
        "dim_loss",
    ),
    "gan": (
        "GAN: the discriminator's features",
        "The discriminator tells real images from a generator's fakes; the generator tries to fool it.",
        r"\mathcal{L}_D = -\mathbb{E}[\log D(x)] - \mathbb{E}[\log(1 - D(G(z)))], \quad \mathcal{L}_G = -\mathbb{E}[\log D(G(z))]",
        "None by design: the features keep whatever tells real from fake.",
        "Mode collapse (the generator draws one image again and again), or a discriminator that wins "
        "outright (its loss near 0) and stops learning.",
        "discriminator_loss",
    ),
    "supervised": (
        "Supervised baseline",
        "From an augmented image, predict its true label.",
        r"\mathcal{L} = -\log p_\theta(y \mid x)",
        "Everything that does not separate the classes, including factors a later task might need.",
        "It cannot collapse with labels; with few labels it overfits, which is the gap SSL tries to close.",
        "supervised_loss",
    ),
    "random-init": (
        "Untrained network",
        "Nothing is predicted: the backbone keeps its random initial weights.",
        r"f(x) = \mathrm{pool}\big(\mathrm{ReLU}(W_L * \cdots \mathrm{ReLU}(W_1 * x))\big), \quad W \sim \text{random}",
        "Small shifts (pooling); random filters still respond to edges, blobs and colours.",
        "Nothing to collapse, though its ReLU features share one large mean direction, so the gauge's spread "
        "reads well below 1 (a narrow cone, not a point). With the kNN monitor it scores below raw pixels "
        "(MNIST 0.798 vs 0.951, shapes 0.216 vs 0.370); a 2×2 grid pooling narrows the gap on MNIST (0.902) and "
        "max-pooling closes it on shapes (0.366 vs 0.370). "
        "A method has learnt something only where it beats this line.",
        "",
    ),
    "pixels": (
        "Raw pixels",
        "Nothing is predicted: the flattened pixels are the embedding.",
        r"f(x) = \mathrm{vec}(x) \in \mathbb{R}^{C \cdot H \cdot W}",
        "None: a one-pixel shift or a new colour moves the image far away.",
        "Nothing to collapse. The line every representation is compared with, and a hard one for the kNN "
        "monitor: no self-supervised method beats it on MNIST (0.951) within 60 s with global pooling; with "
        "the 2×2 grid pooling, MNIST's own 28 px and 240 s, seven in the benchmark do (VICReg 0.974, the best; "
        "raw pixels 0.949 at 28 px).",
        "",
    ),
    "pca": (
        "PCA of the pixels",
        "Nothing is predicted by gradient: the pixels are projected on their directions of largest variance.",
        r"f(x) = U_k^\top (x - \bar{x}), \quad U_k = \text{top-}k \text{ eigenvectors of } \mathrm{Cov}(x)",
        "Drops the directions that vary least (noise); keeps what varies most, which on shapes is "
        "background, colour and position, not the shape.",
        "Nothing to collapse; the best linear compression, and what a linear autoencoder learns.",
        "",
    ),
}


def _method_class(name: str):
    from sslviz.methods import get_method

    return get_method(name)


def card(name: str) -> Card:
    """The card of a method (a fallback from its class attributes when none is written)."""
    cls = _method_class(name)
    if name in _CARDS:
        title, predicts, formula, invariance, collapse, fn = _CARDS[name]
        return Card(name, title, cls.family, cls.paper, predicts, formula, invariance, collapse, fn)
    module = inspect.getmodule(cls)
    losses = [n for n, f in inspect.getmembers(module, inspect.isfunction)
              if n.endswith("_loss") and f.__module__ == module.__name__]
    return Card(name, name, cls.family, cls.paper, f"Predicts {cls.target}.", "", cls.description, "",
                losses[0] if losses else "", written=False)


def cards() -> list[Card]:
    """Cards of every registered method, in registry order."""
    from sslviz.methods import method_names

    return [card(n) for n in method_names()]


def loss_source(name: str) -> str:
    """The source of the method's pure loss function; for the baselines, the code that embeds."""
    c = card(name)
    cls = _method_class(name)
    module = inspect.getmodule(cls)
    if c.loss_function and hasattr(module, c.loss_function):
        return inspect.getsource(getattr(module, c.loss_function))
    embed = cls.__dict__.get("embed")
    if embed is not None:
        return inspect.getsource(embed)
    from sslviz.methods.models import SmallCNN

    return inspect.getsource(SmallCNN.forward) if name == "random-init" else inspect.getsource(cls)


def source_file(name: str) -> str:
    """The method's file, relative to the repository (for the 'from' line under the code)."""
    from pathlib import Path

    path = Path(inspect.getfile(_method_class(name)))
    return "/".join(path.parts[-3:])
