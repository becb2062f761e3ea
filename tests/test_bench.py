"""The pipeline benchmark's report: ratios, targets met or missed, the tables it writes."""

from pathlib import Path

from warehouse.bench import GIB, Bench, Measured, build_report


def _bench(full: float, incremental: float, query_ms: float, peak_gib: float) -> Bench:
    bench = Bench.__new__(Bench)  # no database: the report only reads what was measured
    bench.orders = 1_000_000
    bench.workdir = Path("/nonexistent")
    bench.data = Path("/nonexistent")
    bench.server = type("Server", (), {"describe": lambda self: "a test server"})()
    peak = int(peak_gib * GIB)
    steps = {"load_olist": 10.0, "warehouse_dbt_assets": 40.0}
    bench.measured = [
        Measured("copy", "plain COPY", 10.0, 6_000_000, peak, {}),
        Measured(
            "ingest",
            "ingestion",
            30.0,
            9_000_000,
            peak,
            {
                "parts": {
                    "olist files": {"seconds": 18.0, "rows": 6_000_000},
                    "ERP": {"seconds": 12.0, "rows": 1},
                }
            },
        ),
        Measured("dagster", "full", full, 9_000_000, peak, {"steps": steps}),
        Measured("dagster", "incremental", incremental, 9_100_000, peak, {"steps": {"load_olist": 1.0}}),
        Measured(
            "queries",
            "queries",
            0.1,
            None,
            peak,
            {"queries": {"segment counts": {"median_ms": query_ms, "max_ms": query_ms * 2, "rows": 10}}},
        ),
        Measured("code_location", "load", 4.0, None, peak, {"load_seconds": 3.0}),
    ]
    return bench


INFO = {"cores": 2, "memory_gib": 23.5, "python": "3.11.7", "postgresql": "18.4"}


def test_report_computes_the_ratios_and_says_which_targets_are_met():
    report = build_report(_bench(full=100.0, incremental=12.0, query_ms=5.0, peak_gib=1.0), INFO, 0.0, 200.0)
    data = report["json"]
    assert data["ratios"]["ingestion (order files) / COPY"] == 1.8
    assert data["ratios"]["incremental / full"] == 0.12
    assert all(data["targets_met"].values())
    assert data["machine"]["cores"] == 2
    markdown = report["markdown"]
    assert "| ingestion (order files) / COPY | 1.80x |" in markdown
    assert "| &nbsp;&nbsp;olist files | 18.0 s | 6,000,000 | 333,333 | |" in markdown
    assert "| warehouse_dbt_assets | 40.0 s | 0.0 s |" in markdown
    assert "**no**" not in markdown


def test_report_flags_every_missed_target():
    report = build_report(
        _bench(full=300.0, incremental=200.0, query_ms=250.0, peak_gib=5.0), INFO, 0.0, 600.0
    )
    missed = {name for name, met in report["json"]["targets_met"].items() if not met}
    assert missed == {
        "full pipeline <= 120 s",
        "incremental <= 15% of full",
        "every analyst query <= 100 ms",
        "peak memory <= 4 GiB",
    }
    assert report["markdown"].count("**no**") == 4
