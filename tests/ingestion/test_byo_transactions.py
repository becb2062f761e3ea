"""Bring-your-own transaction files, described by a column mapping, loaded into the embedded PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion import byo_transactions as byo
from ingestion.byo_transactions import ConfigError, MappingConfig, load_byo_transactions
from warehouse import database

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "ingestion" / "examples" / "byo_transactions.example.yml"
EXAMPLE_CSV = ROOT / "ingestion" / "examples" / "transactions_example.csv"

BRAZILIAN = {
    "delimiter": ";",
    "decimal": ",",
    "thousands": ".",
    "date_format": "%d/%m/%Y",
    "columns": {
        "customer_id": "cliente",
        "purchased_at": "data_compra",
        "amount": "valor_total",
        "order_id": "pedido",
        "quantity": "qtd",
    },
}


def rows(pipeline, sql: str) -> list[tuple]:
    return database.query(sql.replace("{ds}", pipeline.dataset_name))


def config(path: Path, **settings) -> MappingConfig:
    return MappingConfig.from_dict({**BRAZILIAN, "path": str(path), **settings})


def write_csv(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def brazilian_number(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


# ------------------------------------------------------------------------------------------ loads


def test_the_example_file_loads_with_exact_sums_and_a_second_load_changes_nothing(pipeline) -> None:
    with EXAMPLE_CSV.open(encoding="utf-8") as handle:
        source = list(csv.DictReader(handle, delimiter=";"))

    _, summary = load_byo_transactions(EXAMPLE_CONFIG, pipeline=pipeline)

    assert summary.source == "byo"
    assert summary.tables == {"transactions": {"files": 1, "rows": 12, "rejected": 0, "skipped_files": 0}}
    expected_sum = sum(brazilian_number(row["valor_total"]) for row in source)
    assert rows(pipeline, "select count(*), sum(amount), sum(quantity) from {ds}.transactions") == [
        (12, expected_sum, 20)
    ]
    # day-first dates, decimal comma with a thousands dot, the config's currency and label
    assert rows(
        pipeline,
        "select customer_id, order_id, purchased_at, amount, quantity, currency, source_name "
        "from {ds}.transactions where _source_row = 4",
    ) == [("C002", "P-1002", datetime(2024, 1, 7), Decimal("1249.00"), 1, "BRL", "example-shop")]
    # no order id: one order per customer and timestamp; no quantity: 1
    assert rows(
        pipeline, "select order_id, quantity from {ds}.transactions where _source_row in (8, 9) order by 1"
    ) == [
        ("C002@2024-02-28T00:00:00", 1),
        ("P-1007", 1),
    ]
    types = dict(
        rows(
            pipeline,
            "select column_name, data_type || coalesce('(' || numeric_precision || ',' || numeric_scale || ')', '') "
            "from information_schema.columns where table_schema = '{ds}' and table_name = 'transactions'",
        )
    )
    assert types["amount"] == "numeric(18,4)"
    assert types["purchased_at"] == "timestamp without time zone"
    assert types["quantity"].startswith("bigint") and types["_source_row"].startswith("bigint")

    snapshot = rows(pipeline, "select *, _dlt_load_id from {ds}.transactions order by _source_row")
    _, second = load_byo_transactions(EXAMPLE_CONFIG, pipeline=pipeline)
    assert second.tables["transactions"] == {"files": 0, "rows": 0, "rejected": 0, "skipped_files": 1}
    assert rows(pipeline, "select *, _dlt_load_id from {ds}.transactions order by _source_row") == snapshot


def test_a_loaded_package_keeps_no_copy_of_its_rows(pipeline) -> None:
    """ingestion/destination.py: dlt deletes the job files of a package once it is loaded (a 1M-order load
    left 2 GB of them under .local/dlt per run); the load info still lists the jobs."""
    info, summary = load_byo_transactions(EXAMPLE_CONFIG, pipeline=pipeline)
    assert summary.tables["transactions"]["rows"] == 12
    assert any(
        job.job_file_info.table_name == "transactions" for job in info.load_packages[0].jobs["completed_jobs"]
    )
    packages = pipeline.list_completed_load_packages()
    assert packages
    for load_id in packages:
        package = Path(pipeline.working_dir) / "load" / "loaded" / load_id
        assert package.is_dir()
        assert not [path for path in package.rglob("*") if path.is_file() and "completed_jobs" in path.parts]


def test_unusable_rows_are_rejected_with_reasons(tmp_path: Path, pipeline) -> None:
    path = write_csv(
        tmp_path / "vendas.csv",
        [
            "cliente;data_compra;valor_total;pedido;qtd",
            "C1;05/03/2024;10,10;P1;1",  # 2 good
            ";05/03/2024;10,00;P2;1",  # 3 missing customer
            "C2;31/02/2024;10,00;P3;1",  # 4 no such day
            "C2;2024-03-05;10,00;P4;1",  # 5 not day-first
            "C3;06/03/2024;dez reais;P5;1",  # 6 not a number
            "C3;06/03/2024;-5,00;P6;1",  # 7 negative
            "C4;07/03/2024;1,23456;P7;1",  # 8 more than 4 decimal places
            "C4;07/03/2024;1,00;P8;0",  # 9 quantity 0
            "C5;07/03/2024;1,00",  # 10 too few fields
            "C5;7/3/2024;1.000,25;P9;2",  # 11 good: unpadded day and month, thousands dot
            "C6;08/03/2024;;P10;1",  # 12 missing amount
        ],
    )
    _, summary = load_byo_transactions(config(path), pipeline=pipeline)

    assert summary.tables["transactions"] == {"files": 1, "rows": 2, "rejected": 9, "skipped_files": 0}
    assert rows(pipeline, "select _source_row, purchased_at, amount from {ds}.transactions order by 1") == [
        (2, datetime(2024, 3, 5), Decimal("10.10")),
        (11, datetime(2024, 3, 7), Decimal("1000.25")),
    ]
    rejected = rows(
        pipeline,
        "select source_file, source_row, column_name, reason, record from {ds}.transactions__rejected order by 2",
    )
    assert {r[0] for r in rejected} == {str(path)}
    assert [(r[1], r[2], r[3]) for r in rejected] == [
        (3, "cliente", "missing customer id"),
        (4, "data_compra", "purchase date does not match date_format '%d/%m/%Y': '31/02/2024'"),
        (5, "data_compra", "purchase date does not match date_format '%d/%m/%Y': '2024-03-05'"),
        (6, "valor_total", "amount is not a number (decimal mark ',', thousands '.'): 'dez reais'"),
        (7, "valor_total", "negative amount: '-5,00'"),
        (8, "valor_total", "amount has more than 4 decimal places: '1,23456'"),
        (9, "qtd", "quantity is not a whole number of at least 1: '0'"),
        (10, None, "row has 3 fields, the header has 5"),
        (12, "valor_total", "missing amount"),
    ]
    assert json.loads(rejected[4][4]) == {
        "cliente": "C3",
        "data_compra": "06/03/2024",
        "valor_total": "-5,00",
        "pedido": "P6",
        "qtd": "1",
    }


def test_a_missing_mapped_column_fails_naming_file_column_and_key(tmp_path: Path, pipeline) -> None:
    path = write_csv(
        tmp_path / "vendas.csv", ["cliente;data_compra;valor;pedido;qtd", "C1;05/03/2024;10,10;P1;1"]
    )

    with pytest.raises(PipelineStepFailed) as failure:
        load_byo_transactions(config(path), pipeline=pipeline)

    message = str(failure.value)
    assert str(path) in message
    assert (
        "'valor_total' (columns.amount in mapping config) is not in the file (did you mean 'valor'?)"
        in message
    )


def test_a_parquet_file_with_typed_columns_and_no_order_ids(tmp_path: Path, pipeline) -> None:
    path = tmp_path / "export" / "orders.parquet"
    path.parent.mkdir()
    table = pa.table(
        {
            "customer": pa.array([101, 101, 102, 103], pa.int64()),
            "ts": pa.array(
                [
                    datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
                    datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
                    datetime(2024, 5, 2, 8, 0, 0, 250000, tzinfo=UTC),
                    datetime(2024, 5, 3, 9, 0, tzinfo=UTC),
                ],
                pa.timestamp("us", tz="America/Sao_Paulo"),
            ),
            "total": pa.array(
                [Decimal("10.10"), Decimal("0.20"), Decimal("99.99"), Decimal("-1.00")], pa.decimal128(10, 2)
            ),
            "unused": pa.array(["a", "b", "c", "d"]),
        }
    )
    pq.write_table(table, path)
    (path.parent / "README.txt").write_text("not a data file")
    mapping = MappingConfig(
        path=str(path.parent),  # a folder: its parquet files, not the README
        columns={"customer_id": "customer", "purchased_at": "ts", "amount": "total"},
        currency="EUR",
    )

    _, summary = load_byo_transactions(mapping, pipeline=pipeline)

    assert summary.tables["transactions"]["rows"] == 3 and summary.rows_rejected == 1
    assert rows(
        pipeline,
        "select customer_id, order_id, purchased_at, amount, quantity, currency from {ds}.transactions order by _source_row",
    ) == [
        ("101", "101@2024-05-01T12:30:00", datetime(2024, 5, 1, 12, 30), Decimal("10.10"), 1, "EUR"),
        ("101", "101@2024-05-01T12:30:00", datetime(2024, 5, 1, 12, 30), Decimal("0.20"), 1, "EUR"),
        (
            "102",
            "102@2024-05-02T08:00:00.250000",
            datetime(2024, 5, 2, 8, 0, 0, 250000),
            Decimal("99.99"),
            1,
            "EUR",
        ),
    ]
    assert rows(pipeline, "select count(distinct order_id), sum(amount) from {ds}.transactions") == [
        (2, Decimal("110.29"))
    ]
    assert rows(pipeline, "select source_row, column_name, reason from {ds}.transactions__rejected") == [
        (5, "total", "negative amount: -1.00")
    ]


def test_iso_dates_by_default_and_a_corrected_file_replaces_its_rows(tmp_path: Path, pipeline) -> None:
    folder = tmp_path / "exports"
    header = "customer,purchased,amount,order"
    write_csv(folder / "2024-05.csv", [header, "A,2024-05-01,10.00,o1", "B,2024-05-02T10:15:00Z,20.00,o2"])
    write_csv(folder / "2024-06.csv", [header, "A,2024-06-01 09:00:00,5.5,o3", "C,2024-06-31,1.00,o4"])
    mapping = MappingConfig.from_dict(
        {
            "path": str(folder / "*.csv"),
            "columns": {
                "customer_id": "customer",
                "purchased_at": "purchased",
                "amount": "amount",
                "order_id": "order",
            },
        }
    )

    _, first = load_byo_transactions(mapping, pipeline=pipeline)
    assert first.tables["transactions"] == {"files": 2, "rows": 3, "rejected": 1, "skipped_files": 0}
    assert rows(pipeline, "select order_id, purchased_at from {ds}.transactions order by 1") == [
        ("o1", datetime(2024, 5, 1)),
        ("o2", datetime(2024, 5, 2, 10, 15)),
        ("o3", datetime(2024, 6, 1, 9)),
    ]
    assert rows(pipeline, "select reason from {ds}.transactions__rejected") == [
        (
            "purchase date is not an ISO 8601 date or timestamp (set date_format for other layouts): '2024-06-31'",
        )
    ]

    # the June export is corrected: its rows replace the old ones, May is left alone
    write_csv(
        folder / "2024-06.csv",
        [header, "A,2024-06-01 09:00:00,5.50,o3", "C,2024-06-30,1.00,o4", "D,2024-06-30,2.25,o5"],
    )
    _, second = load_byo_transactions(mapping, pipeline=pipeline)
    assert second.tables["transactions"] == {"files": 1, "rows": 3, "rejected": 0, "skipped_files": 1}
    assert rows(
        pipeline,
        "select count(*), count(distinct _source_row || _source_file), sum(amount) from {ds}.transactions",
    ) == [(5, 5, Decimal("38.75"))]


# ----------------------------------------------------------------------------------------- config


def test_the_example_config_reads_and_resolves_its_path() -> None:
    mapping = MappingConfig.from_yaml(EXAMPLE_CONFIG)
    assert mapping.path == str(EXAMPLE_CSV)
    assert (mapping.delimiter, mapping.decimal, mapping.thousands, mapping.date_format) == (
        ";",
        ",",
        ".",
        "%d/%m/%Y",
    )
    assert mapping.mapped == {
        "customer_id": "cliente",
        "purchased_at": "data_compra",
        "amount": "valor_total",
        "order_id": "pedido",
        "quantity": "qtd",
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"sheet": "1"}, "unknown key(s) sheet; the keys are path, columns, format"),
        ({"columns": {"customer_id": "c", "amount": "a"}}, "columns.purchased_at is required"),
        ({"columns": {**BRAZILIAN["columns"], "price": "p"}}, "unknown key(s) under columns: price"),
        ({"decimal": ";"}, 'decimal must be "." or ","'),
        ({"thousands": ","}, "thousands must be one character other than the decimal mark"),
        ({"format": "xlsx"}, "format must be one of csv, parquet"),
        ({"date_format": "dd/mm/yyyy"}, "date_format must be a strftime pattern"),
        ({"currency": "real"}, "currency must be an ISO 4217 code"),
        ({"encoding": "klingon"}, "encoding 'klingon' is not known"),
    ],
)
def test_invalid_configs_say_what_is_wrong(tmp_path: Path, settings: dict, message: str) -> None:
    path = tmp_path / "shop.yml"
    path.write_text(json.dumps({**BRAZILIAN, "path": "x.csv", **settings}))  # JSON is YAML
    with pytest.raises(ConfigError) as error:
        MappingConfig.from_yaml(path)
    assert str(error.value).startswith(str(path)) and message in str(error.value)


def test_the_config_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(byo.CONFIG_VARIABLE, raising=False)
    with pytest.raises(ConfigError, match="set BYO_TRANSACTIONS_CONFIG"):
        byo.resolve_config(None)
    monkeypatch.setenv(byo.CONFIG_VARIABLE, str(EXAMPLE_CONFIG))
    assert byo.resolve_config(None).source_name == "example-shop"
