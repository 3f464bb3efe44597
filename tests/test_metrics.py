import math

import numpy as np
import pandas as pd
import pytest

from repgeom.metrics import METRIC_COLUMNS, read_metrics, summarize, write_metrics
from repgeom.stats import mean_ci


def rows(stage="isometry", **params):
    out = []
    for method, base in [("baseline", 0.5), ("iso", 0.7)]:
        for seed, v in enumerate([1.0, 2.0, 3.0]):
            out.append(
                {
                    "stage": stage,
                    "method": method,
                    "seed": seed,
                    "metric": "acc",
                    "value": base + v / 10,
                    **params,
                }
            )
    return out


def test_mean_ci_hand_computed():
    mean, lo, hi = mean_ci([1, 2, 3])
    half = 4.302652729911275 * 1 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(n)
    assert mean == 2.0
    assert half == pytest.approx(2.4841, abs=1e-4)
    assert lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)


def test_mean_ci_single_value_and_errors():
    mean, lo, hi = mean_ci([4.0])
    assert mean == 4.0 and math.isnan(lo) and math.isnan(hi)
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([1, 2], confidence=1.5)


def test_write_metrics_missing_column_named(tmp_path):
    bad = [{"stage": "s", "method": "m", "metric": "acc", "value": 1.0}]
    with pytest.raises(ValueError, match="seed"):
        write_metrics(bad, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_write_metrics_non_numeric_value(tmp_path):
    bad = [{"stage": "s", "method": "m", "seed": 0, "metric": "acc", "value": "high"}]
    with pytest.raises(ValueError, match="value"):
        write_metrics(bad, tmp_path / "m.csv")


def test_round_trip_and_column_order(tmp_path):
    path = tmp_path / "deep" / "metrics.csv"
    written = write_metrics(rows(sigma=0.1, beta=2.0), path)
    assert list(written.columns) == [*METRIC_COLUMNS, "beta", "sigma"]
    back = read_metrics(path)
    pd.testing.assert_frame_equal(back, written)
    assert [p.name for p in path.parent.iterdir()] == ["metrics.csv"]


def test_read_many_with_different_params(tmp_path):
    write_metrics(pd.DataFrame(rows(beta=1.0)), tmp_path / "a.csv")
    write_metrics(rows(stage="lsh", epsilon=0.5), tmp_path / "b.csv")
    df = read_metrics([tmp_path / "a.csv", str(tmp_path / "b.csv")])
    assert len(df) == 12
    assert list(df.columns) == [*METRIC_COLUMNS, "beta", "epsilon"]
    assert df.loc[df.stage == "lsh", "beta"].isna().all()


def test_read_metrics_names_bad_file(tmp_path):
    pd.DataFrame({"stage": ["s"], "value": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad\.csv.*method"):
        read_metrics(tmp_path / "bad.csv")


def test_summarize():
    df = pd.DataFrame(rows(beta=1.0) + rows(stage="lsh"))
    out = summarize(df, by=["stage", "method"])
    assert list(out.columns) == ["stage", "method", "mean", "std", "n", "ci_low", "ci_high"]
    iso = out[(out.stage == "isometry") & (out.method == "iso")].iloc[0]
    assert iso["n"] == 3 and iso["mean"] == pytest.approx(0.9)
    assert iso["std"] == pytest.approx(0.1)
    half = 4.302652729911275 * 0.1 / math.sqrt(3)
    assert iso["ci_low"] == pytest.approx(0.9 - half) and iso["ci_high"] == pytest.approx(
        0.9 + half
    )


def test_summarize_keeps_nan_params_and_single_seed():
    df = pd.DataFrame(rows(beta=1.0) + rows(stage="lsh"))
    df = pd.concat(
        [
            df,
            pd.DataFrame(
                [
                    {
                        "stage": "x",
                        "method": "m",
                        "seed": 0,
                        "metric": "acc",
                        "value": 1.0,
                        "beta": np.nan,
                    }
                ]
            ),
        ]
    )
    out = summarize(df, by=["stage", "beta"])
    assert len(out) == 3
    single = out[out.stage == "x"].iloc[0]
    assert single["n"] == 1 and math.isnan(single["ci_low"]) and math.isnan(single["std"])
