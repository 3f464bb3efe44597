"""repgeom: a reproducible replication pipeline for four papers on the geometry
of neural representations. All logic lives in this package; the Snakemake
rules under ``workflow/`` only call it."""

__version__ = "0.1.0"
