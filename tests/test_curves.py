"""Curve tables: rows from a fit history, checks on write, and the figure."""

import pandas as pd
import pytest

from repgeom.curves import history_rows, read_curves, write_curves
from repgeom.figures.curves import plot_curves

HISTORY = [
    {"epoch": 1, "loss": 2.0, "val_acc": 0.5},
    {"epoch": 2, "loss": 1.0},
    {"epoch": 3, "loss": 0.5, "val_acc": 0.9},
]
BASE = {"stage": "s", "method": "m", "seed": 0, "beta": 1.0}
METRICS = {"loss": ("loss", "train"), "val_acc": ("accuracy", "heldout")}


def test_history_rows_skips_missing_evaluations():
    rows = pd.DataFrame(history_rows(HISTORY, BASE, METRICS))
    assert len(rows) == 5  # 3 losses + 2 evaluations
    acc = rows[rows.metric == "accuracy"]
    assert acc["epoch"].tolist() == [1, 3]
    assert acc["value"].tolist() == [0.5, 0.9]
    assert set(rows["split"]) == {"train", "heldout"}
    assert (rows["beta"] == 1.0).all()


def test_write_read_roundtrip(tmp_path):
    path = tmp_path / "curve.csv"
    write_curves(history_rows(HISTORY, BASE, METRICS), path)
    back = read_curves(path)
    assert back.loc[back.metric == "loss", "value"].tolist() == [2.0, 1.0, 0.5]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"split": "test"}, "split must be one of"),
        ({"unit": "minute"}, "unit one of"),
    ],
)
def test_write_rejects_bad_values(tmp_path, change, message):
    rows = [{**r, **change} for r in history_rows(HISTORY, BASE, METRICS)]
    with pytest.raises(ValueError, match=message):
        write_curves(rows, tmp_path / "c.csv")
    assert not (tmp_path / "c.csv").exists()


def test_write_rejects_missing_columns(tmp_path):
    rows = [
        {k: v for k, v in r.items() if k != "split"} for r in history_rows(HISTORY, BASE, METRICS)
    ]
    with pytest.raises(ValueError, match="split"):
        write_curves(rows, tmp_path / "c.csv")


def test_plot_curves_writes_png(tmp_path):
    rows = history_rows(HISTORY, BASE, METRICS) + history_rows(
        HISTORY, {**BASE, "seed": 1}, METRICS
    )
    path = tmp_path / "curves.png"
    plot_curves(pd.DataFrame(rows), path, title="test", hue=("method", "beta"))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
