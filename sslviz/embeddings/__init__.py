"""Embeddings of a run and what the Embeddings page does with them: projection (UMAP / PCA /
t-SNE, and the fast UMAP path), alignment across checkpoints, clusters, colouring, neighbours,
the factor probe and export.
"""
