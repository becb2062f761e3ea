"""CDNOW fixtures for the CLV tests.

The CDNOW sample (2,357 customers, Fader, Hardie & Lee 2005) ships inside the ``lifetimes`` wheel on PyPI. The
product does not depend on lifetimes: the wheel is fetched once with ``pip download`` into
``.local/cache/lifetimes/`` (git-ignored) and the data files are read from it with zipfile.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from clv.summary import CalibrationHoldout, calibration_holdout_split

LIFETIMES_VERSION = "0.11.3"
CACHE_DIR = Path(__file__).resolve().parents[2] / ".local" / "cache" / "lifetimes"
DATASETS = "lifetimes/datasets/"
# Fader, Hardie & Lee (2005), section 4: a 39-week calibration period and a 39-week holdout.
CDNOW_CALIBRATION_END = "1997-09-30"
CDNOW_OBSERVATION_END = "1998-06-30"


def _cached_wheel() -> Path | None:
    found = sorted(CACHE_DIR.glob(f"[Ll]ifetimes-{LIFETIMES_VERSION}-*.whl"))
    return found[0] if found else None


def _download_wheel() -> Path:
    wheel = _cached_wheel()
    if wheel is not None:
        return wheel
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"lifetimes=={LIFETIMES_VERSION}",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            tmp,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            pytest.skip(
                f"CDNOW data unavailable: `pip download lifetimes=={LIFETIMES_VERSION}` failed: {error}"
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            reason = " | ".join(tail)
            pytest.skip(
                f"CDNOW data unavailable: `pip download lifetimes=={LIFETIMES_VERSION}` failed: {reason}"
            )
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        target = CACHE_DIR / wheels[0].name
        shutil.move(str(wheels[0]), target.with_suffix(".part"))
        target.with_suffix(".part").replace(target)  # atomic, so a concurrent run never sees half a wheel
    return target


@pytest.fixture(scope="session")
def lifetimes_wheel() -> Path:
    """The cached lifetimes wheel (downloaded at most once per session; a failure skips every CDNOW test)."""
    return _download_wheel()


def _read(wheel_path: Path, name: str) -> bytes:
    with zipfile.ZipFile(wheel_path) as wheel:
        return wheel.read(DATASETS + name)


@pytest.fixture(scope="session")
def cdnow_summary(lifetimes_wheel: Path) -> pd.DataFrame:
    """The shipped weekly summary: ID, frequency, recency, T (calibration period ending 1997-09-30)."""
    return pd.read_csv(io.BytesIO(_read(lifetimes_wheel, "cdnow_customers_summary.csv"))).set_index("ID")


@pytest.fixture(scope="session")
def cdnow_summary_with_spend(lifetimes_wheel: Path) -> pd.DataFrame:
    """The shipped summary with spend: ID, x, t_x, T, zbar (mean repeat-purchase value, rounded to cents)."""
    return pd.read_csv(
        io.BytesIO(_read(lifetimes_wheel, "cdnow_customers_summary_with_transactions.csv"))
    ).set_index("ID")


@pytest.fixture(scope="session")
def cdnow_transactions(lifetimes_wheel: Path) -> pd.DataFrame:
    """The raw CDNOW sample (1997-01-01 .. 1998-06-30): person_id (the 1..2357 sample id), ts, amount."""
    raw = pd.read_csv(
        io.BytesIO(_read(lifetimes_wheel, "CDNOW_sample.txt")),
        sep=r"\s+",
        header=None,
        names=["master_id", "person_id", "date", "cds", "amount"],
    )
    raw["ts"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    return raw[["person_id", "ts", "amount"]]


@pytest.fixture(scope="session")
def cdnow_split(cdnow_transactions: pd.DataFrame) -> CalibrationHoldout:
    """The literature's cut: weeks 1-39 (to 1997-09-30) calibrate, weeks 40-78 (to 1998-06-30) hold out."""
    return calibration_holdout_split(
        cdnow_transactions, CDNOW_CALIBRATION_END, CDNOW_OBSERVATION_END, unit="W"
    )
