"""Baseline: principal component analysis of the training pixels.

scikit-learn's PCA, fitted once on the training images and kept in the checkpoint (its mean and
components are buffers). The Embeddings page's PCA view is another thing: the embeddings' one PCA
(sslviz.embeddings.umap_fast.prepare_features) of whatever embedding is shown."""

from __future__ import annotations

import torch

from .base import Method, MethodCard


class PCA(Method):
    name = "pca"
    title = "PCA"  # how people write it
    family = "baseline"
    paper = "Pearson, 1901 / Hotelling, 1933. Principal component analysis (the linear baseline)"
    target = "nothing learnt by gradient: the directions of largest pixel variance"
    description = (
        "The training images' pixels are centred and projected on their first principal components, "
        "the directions along which the images vary most. It is the best linear compression of the "
        "pixels, and a linear autoencoder learns exactly this subspace. It denoises and compresses "
        "but keeps whatever varies most: on shapes that is background brightness, colour and "
        "position, not the shape, so a representation worth learning must beat it."
    )
    card = MethodCard(
        title="PCA of the pixels",
        predicts="Nothing is predicted by gradient: the pixels are projected on their directions of largest variance.",
        formula=r"f(x) = U_k^\top (x - \bar{x}), \quad U_k = \text{top-}k \text{ eigenvectors of } \mathrm{Cov}(x)",
        invariance="Drops the directions that vary least (noise); keeps what varies most, which on shapes is "
        "background, colour and position, not the shape.",
        collapse="Nothing to collapse; the best linear compression, and what a linear autoencoder learns.",
        loss_function="",
    )
    trainable = False
    defaults = {"components": 64}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        # Filled by prepare(); buffers so that checkpoints carry the fitted projection.
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("components", torch.zeros(0, 0))

    def prepare(self, images):
        from sklearn.decomposition import PCA as SkPCA

        x = images.flatten(1).float().div(255).cpu().numpy()
        k = min(self.hp["components"], *x.shape)
        pca = SkPCA(k, svd_solver="randomized" if k < min(x.shape) // 2 else "full", random_state=0).fit(x)
        device = self.mean.device
        self.mean = torch.from_numpy(pca.mean_).float().to(device)
        self.components = torch.from_numpy(pca.components_).float().to(device)  # k × (C·H·W)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ("mean", "components"):  # take the fitted shapes from the checkpoint
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def step(self, images, labels, index):
        raise RuntimeError("pca is not trained: it is only evaluated")

    @torch.no_grad()
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1).float() - self.mean) @ self.components.T


METHOD = PCA
