"""DeepCluster: cluster the features with k-means, then learn to predict the clusters."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslviz.augment.pretext import LUMA
from sslviz.core import distributed
from sslviz.evaluation.protocols import extract_features

from .base import Method, MethodCard


def sobel(images: torch.Tensor) -> torch.Tensor:
    """The edges of the grayscale image, which is what DeepCluster's network sees of a colour image.

    The paper removes colour and raises local contrast with a fixed Sobel filter in front of the
    network (its implementation details). Float N×3×H×W RGB in [0, 1] -> N×3×H×W: the gradient
    magnitude and the two Sobel responses of the luma, shifted by 0.5 (flat regions read 0, 0.5, 0.5).
    """
    gray = sum(w * images[:, i] for i, w in enumerate(LUMA))[:, None]
    k = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], device=images.device) / 4
    d = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), torch.stack([k, k.T])[:, None])
    return torch.cat([d.norm(dim=1, keepdim=True), d + 0.5], 1).contiguous(memory_format=torch.channels_last)


def cluster_features(features: np.ndarray, k: int, pca_dim: int = 32, seed: int = 0) -> np.ndarray:
    """Pseudo-labels: PCA-reduce and whiten, L2-normalise, k-means; no cluster left empty.

    As in DeepCluster (Sec. 3.2, 3.3): when a cluster ends up empty, a non-empty cluster is chosen
    at random (with probability by size) and split in two: half of its points, those on one side
    of a random direction through its centre, move to the empty cluster.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    x = PCA(min(pca_dim, *features.shape), whiten=True, random_state=seed).fit_transform(features)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-8
    labels = KMeans(min(k, len(x)), n_init=1, max_iter=50, random_state=seed).fit_predict(x)
    rng = np.random.default_rng(seed)
    for empty in np.setdiff1d(np.arange(k), labels):
        sizes = np.bincount(labels, minlength=k)
        big = rng.choice(k, p=sizes / sizes.sum()) if sizes.max() > 1 else int(sizes.argmax())
        members = np.flatnonzero(labels == big)
        side = (x[members] - x[members].mean(0)) @ rng.standard_normal(x.shape[1])
        labels[members[side > np.median(side)]] = empty
    return labels


def deepcluster_loss(logits: torch.Tensor, pseudo_labels: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the k-means pseudo-labels, each cluster weighted by 1 / its size.

    Caron, Bojanowski, Joulin, Douze (2018), "Deep Clustering for Unsupervised Learning of Visual
    Features", alternates Eq. 2, k-means on the features: min_C 1/N Σ_n min_{y_n} ||f_θ(x_n) - C y_n||²
    (y_n one-hot), with Eq. 1 on its assignments: min_θ,W 1/N Σ_n l(g_W(f_θ(x_n)), y_n), l the
    multinomial logistic loss. The paper samples
    images uniformly over pseudo-classes; weighting by inverse cluster size is the same in expectation.
    """
    return F.cross_entropy(logits, pseudo_labels, weight=class_weights)


class DeepCluster(Method):
    name = "deepcluster"
    title = "DeepCluster"  # how people write it
    family = "clustering"
    paper = "Caron et al., 2018. Deep Clustering for Unsupervised Learning of Visual Features (DeepCluster)"
    target = "the k-means cluster of the image's own features"
    description = (
        "At the start of every epoch the current network embeds the whole training set and k-means "
        "groups the embeddings into k clusters; during the epoch the network (with a classifier "
        "head re-initialised every epoch, since cluster numbers mean nothing from one k-means to the "
        "next) learns to predict each image's cluster from an augmented view. A random network "
        "already groups images by colour and layout; training sharpens whatever the clusters "
        "capture, and the augmentations push the clusters towards what survives them. Collapse is "
        "one giant cluster: empty clusters are re-seeded by splitting a big one, and clusters are "
        "weighted by 1 / size so that a huge cluster cannot dominate the loss. As in the paper, the "
        "network sees only the edges of a colour image (a fixed Sobel filter on its grayscale "
        "version): with colour, k-means would group the images by colour, which the colour "
        "augmentations then hide."
    )
    card = MethodCard(
        title="DeepCluster: learn your own clusters",
        predicts="From an augmented view, predict the k-means cluster that the image's own features fell into this epoch.",
        formula=r"\min_\theta \frac{1}{N}\sum_n w_{y_n}\, \ell\big(g(f_\theta(x_n)), y_n\big), \quad y_n = \text{k-means cluster of } f_\theta(x_n)",
        invariance="Whatever survives the augmentations and the clustering; a random network already groups by colour and layout.",
        collapse="One giant cluster is the collapse: empty clusters are re-seeded by splitting big ones, and clusters "
        "are weighted by 1/size.",
        loss_function="deepcluster_loss",
    )
    joint_embedding = True
    test_budget = (300, 32)
    ships = ("shapes", "mnist-10k")
    default_lr = 2e-3
    # sobel: on shapes (150 steps of 32 images twice, re-clustered once) kNN went 25.2% (untrained,
    # edges) -> 33.1% (seed 1: 26.7% -> 32.5%); on colour pixels 19.7% -> 25.4% (seed 1: 20.2% -> 20.3%).
    defaults = {"clusters": 64, "pca_dim": 32, "sobel": True}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        k = self.hp["clusters"]
        self.classifier = nn.Linear(backbone.out_dim, k)
        # training state only (not in checkpoints): re-computed at the start of every epoch
        self.register_buffer("pseudo_labels", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("class_weights", torch.ones(k), persistent=False)

    @torch.no_grad()
    def on_epoch_start(self, epoch, images):
        was_training, device = self.training, self.classifier.weight.device
        labels = torch.zeros(len(images), dtype=torch.long)
        if distributed.is_main():  # k-means once, over the whole training set; other processes receive it
            self.eval()
            feats = extract_features(self.embed, images, device).numpy()
            self.train(was_training)
            labels = torch.from_numpy(cluster_features(feats, self.hp["clusters"], self.hp["pca_dim"], seed=epoch))
        labels = distributed.broadcast_tensor(labels.long().to(device))
        counts = np.bincount(labels.cpu().numpy(), minlength=self.hp["clusters"])
        self.pseudo_labels = labels
        self.class_weights = torch.from_numpy(len(labels) / (len(counts) * np.maximum(counts, 1))).float().to(device)
        self.classifier.reset_parameters()  # same tensors; the trainer drops their optimiser state

    def reinitialised_parameters(self):
        """The classifier starts over every epoch, and so do its Adam moments (the old ones belong
        to the previous k-means' cluster numbers)."""
        return list(self.classifier.parameters())

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """Sobel edges of colour images; grayscale images have no colour to remove and stay as they
        are (on digits the edges cost the untrained network 9 points of kNN: 91.9% -> 82.7%)."""
        return sobel(x) if self.hp["sobel"] and x.shape[1] == 3 else x

    @torch.no_grad()
    def embed(self, x):
        return self.backbone(self.network_input(x))

    def step(self, images, labels, index):
        targets = self.pseudo_labels[index.to(self.pseudo_labels.device)]
        logits = self.classifier(self.backbone(self.network_input(self.views(images))))
        loss = deepcluster_loss(logits, targets, self.class_weights)
        acc = (logits.argmax(1) == targets).float().mean().item()
        return loss, {"loss": loss.item(), "cluster_accuracy": acc}


METHOD = DeepCluster
