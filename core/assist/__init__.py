"""The model module: backbone, embeddings, heads, calibration, clustering, sampling, stages.

Import the submodules directly (``from core.assist.heads import train_head``); this package
imports nothing heavy so that ``import core.assist`` stays cheap. ``core`` never imports streamlit.
"""
