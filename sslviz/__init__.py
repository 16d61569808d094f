"""sslviz: see and compare self-supervised learning on images.

Importing the package is cheap on purpose: submodules (torch, umap, streamlit) load only
when they are used.
"""

__version__ = "0.1.0"
