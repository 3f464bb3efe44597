"""Isometric representations (Beshkov, Verhellen, Lepperød 2022): a tanh MLP trained
with cross-entropy plus a within-class distance-preservation regulariser, geometry
metrics of its representation, and hierarchical stacking of such blocks."""
