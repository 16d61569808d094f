"""Plotly figure builders, one module per area. Pure functions of data: no Streamlit, no store access.

    training.py          loss, kNN accuracy and collapse-gauge (spread, effective rank) curves of a run
    embeddings.py        2D/3D scatter of projections, image grids (Embeddings page)
    label_efficiency.py  accuracy vs labels-per-class curves (Label-efficiency and Compare pages)
    compare.py           runs side by side: overlaid training curves (Compare page)
    teaching.py          augmentation grids, pretext-task figures, factor-probe bars (teaching pages)
"""

from .training import training_curves

__all__ = ["training_curves"]
