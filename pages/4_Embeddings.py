"""Embeddings: UMAP / PCA / t-SNE of what a network learned, coloured by label, cluster, factor or a
few-shot classifier; images, neighbours, evolution over checkpoints, side by side, export. An embedding made
elsewhere is imported from the sidebar (sslviz/ui/import_views.py) and shown like a run."""

import streamlit as st

from sslviz.ui import embedding_panels as panels
from sslviz.ui.common import one_line_on_error, page
from sslviz.ui.embedding_state import choose
from sslviz.ui.embedding_views import projection_settings
from sslviz.ui.import_views import delete_import_panel, import_panel
from sslviz.ui.map_views import map_comparison_view

page("Embeddings", "🗺️")
st.title("Embeddings")
st.caption("Each point is a held-out test image, placed by what the network makes of it. Images the network "
           "finds similar land close together — compare with raw pixels and the untrained network.")

import_panel()  # an embedding file made elsewhere becomes an entry, selected at once
choice = choose()
delete_import_panel()  # imports are deleted here (the Train page lists trained runs only)
if choice is not None:
    params = projection_settings()
    view = st.radio("view", ["Explore", "Evolution", "Side by side", "Read the map", "Export"], horizontal=True,
                    key="emb_view", label_visibility="collapsed")
    with one_line_on_error(f"The {view} view"):
        if view == "Read the map":  # the run's network (the sidebar's epoch), as PCA, t-SNE and UMAP side by side
            map_comparison_view(choice.run["id"], "emb_map", epoch=choice.epoch if choice.source == "run" else None)
        else:
            {"Explore": panels.explore, "Evolution": panels.evolution, "Side by side": panels.side_by_side,
             "Export": panels.export_panel}[view](choice, params)
