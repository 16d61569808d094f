"""Baseline: the backbone with its random initial weights, never trained."""

from __future__ import annotations

from .base import Method, MethodCard


class RandomInit(Method):
    name = "random-init"
    title = "Untrained network"  # how people write it
    family = "baseline"
    paper = "The untrained network (e.g. Saxe et al., 2011. On Random Weights and Unsupervised Feature Learning)"
    target = "nothing: no training"
    description = (
        "The same backbone, evaluated with the random weights it starts from. Random convolutions "
        "followed by ReLU and pooling already compute local features (edges, blobs, colour "
        "patches), but with this project's kNN monitor (cosine kNN on globally pooled features) "
        "the untrained small CNN scores below raw pixels on every dataset in BENCHMARKS.md: MNIST "
        "0.798 vs 0.951, shapes 0.216 vs 0.370, digits 0.919 vs 0.975. Pooling to a 2×2 grid "
        "(small-cnn-grid) keeps where the strokes are and narrows the gap on MNIST (0.902 vs "
        "0.952); max-pooling (small-cnn-max, the recipe's backbone for drawn images) brings it level "
        "on shapes (0.366 vs 0.370, 2026-12-03); with a linear probe on standardised features and 1 to 10 labels per class it "
        "roughly ties raw pixels on MNIST (73.3% vs 74.2% at 10 labels per class). Its ReLU "
        "features share one large mean direction, so its points sit in a narrow cone on the "
        "sphere: the collapse gauge's spread reads well below 1 although nothing collapsed. A "
        "self-supervised method has learnt something only where it beats this line."
    )
    card = MethodCard(
        title="Untrained network",
        predicts="Nothing is predicted: the backbone keeps its random initial weights.",
        formula=r"f(x) = \mathrm{pool}\big(\mathrm{ReLU}(W_L * \cdots \mathrm{ReLU}(W_1 * x))\big), \quad W \sim \text{random}",
        invariance="Small shifts (pooling); random filters still respond to edges, blobs and colours.",
        collapse="Nothing to collapse, though its ReLU features share one large mean direction, so the gauge's spread "
        "reads well below 1 (a narrow cone, not a point). With the kNN monitor it scores below raw pixels "
        "(MNIST 0.798 vs 0.951, shapes 0.216 vs 0.370); a 2×2 grid pooling narrows the gap on MNIST (0.902) and "
        "max-pooling closes it on shapes (0.366 vs 0.370). "
        "A method has learnt something only where it beats this line.",
        loss_function="",
    )
    trainable = False
    defaults = {}

    def step(self, images, labels, index):
        raise RuntimeError("random-init is not trained: it is only evaluated")


METHOD = RandomInit
