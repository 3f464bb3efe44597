"""Figures drawn only from tidy metric tables (seaborn, matplotlib Agg)."""
