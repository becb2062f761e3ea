"""Order files in the Olist format, loaded by dlt into the embedded PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from ingestion.pipelines import load_olist_files
from tests.ingestion import olist_samples
from warehouse import database

EXPECTED_ROWS = {
    "customers": 5,
    "orders": 5,
    "order_items": 5,
    "order_payments": 6,
    "order_reviews": 4,
    "products": 4,
    "sellers": 4,
    "geolocation": 4,
    "product_category_name_translation": 3,
}


def rows(pipeline, sql: str) -> list[tuple]:
    return database.query(sql.replace("{ds}", pipeline.dataset_name))


def count(pipeline, table: str) -> int:
    return rows(pipeline, f"select count(*) from {{ds}}.{table}")[0][0]


def test_public_olist_files_load_unchanged(tmp_path: Path, pipeline) -> None:
    olist_samples.write(tmp_path / "landing")
    _, summary = load_olist_files(str(tmp_path / "landing"), pipeline=pipeline)

    assert {t: s["rows"] for t, s in summary.tables.items()} == EXPECTED_ROWS
    assert summary.rows_rejected == 0
    for table, expected in EXPECTED_ROWS.items():
        assert count(pipeline, table) == expected, table
    # zip prefixes keep their leading zeros; empty strings are missing values
    assert rows(
        pipeline,
        "select customer_zip_code_prefix from {ds}.customers where customer_city = 'sao bernardo do campo'",
    ) == [("09790",)]
    assert rows(pipeline, "select order_approved_at from {ds}.orders where order_status = 'canceled'") == [
        (None,)
    ]
    # line breaks and doubled quotes inside a quoted comment survive
    messages = rows(
        pipeline, "select distinct review_comment_message from {ds}.order_reviews where review_score = '5'"
    )
    assert messages == [('Produto chegou antes do prazo,\nmuito bom!\nRecomendo "demais"',)]
    # the same review covering two orders is two rows; the misspelled columns stay as they are in raw
    assert count(pipeline, "order_reviews where review_id = '80e641a11e56f04c1ad469d5645fdfde'") == 2
    assert rows(
        pipeline, "select product_name_lenght from {ds}.products where product_category_name = 'pc_gamer'"
    ) == [("46",)]
    # every value is text as delivered, with lineage columns
    types = dict(
        rows(
            pipeline,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = '{ds}' and table_name = 'order_items'",
        )
    )
    assert types["price"] == "character varying" and types["_source_row"] == "bigint"
    assert "_dlt_load_id" in types and "_source_file" in types


def test_a_later_batch_merges_status_changes_and_adds_orders(tmp_path: Path, pipeline) -> None:
    landing = tmp_path / "landing"
    olist_samples.write(landing / "batch_0001")
    load_olist_files(str(landing), pipeline=pipeline)

    batch2 = landing / "batch_0002"
    batch2.mkdir()
    header = olist_samples.FILES["olist_orders_dataset.csv"].splitlines()[0]
    (batch2 / "olist_orders_dataset.csv").write_text(
        header
        + "\n"
        + '"ad21c59c0840e6cb83a9ceb5573f8159","4f2d8ab171c80ec8364f7c12e35b23ad","delivered","2018-02-13 21:18:39",'
        '"2018-02-13 22:20:29","2018-02-15 10:00:00","2018-02-20 16:00:00","2018-02-26 00:00:00"\n'
        + '"00000000000000000000000000000001","06b8999e2fba1a1fbc88172c00ba8bc7","created","2018-09-01 10:00:00",'
        '"","","","2018-09-20 00:00:00"\n'
    )
    _, summary = load_olist_files(str(landing), pipeline=pipeline)

    assert summary.tables["orders"] == {"files": 1, "rows": 2, "rejected": 0, "skipped_files": 1}
    assert count(pipeline, "orders") == 6
    assert rows(
        pipeline, "select order_status from {ds}.orders where order_id = 'ad21c59c0840e6cb83a9ceb5573f8159'"
    ) == [("delivered",)]
    # untouched tables were not read again
    assert summary.tables["customers"]["files"] == 0 and summary.tables["customers"]["skipped_files"] == 1


def test_loading_the_same_files_twice_changes_nothing(tmp_path: Path, pipeline) -> None:
    olist_samples.write(tmp_path / "landing")
    load_olist_files(str(tmp_path / "landing"), pipeline=pipeline)
    before = {t: count(pipeline, t) for t in EXPECTED_ROWS}
    info, summary = load_olist_files(str(tmp_path / "landing"), pipeline=pipeline)
    assert {t: count(pipeline, t) for t in EXPECTED_ROWS} == before
    assert summary.rows_loaded == 0 and not info.loads_ids


def test_bad_rows_are_quarantined_with_reasons_and_good_rows_load(tmp_path: Path, pipeline) -> None:
    landing = olist_samples.write(
        tmp_path / "landing", ["olist_orders_dataset.csv", "olist_order_items_dataset.csv"]
    )
    orders = landing / "olist_orders_dataset.csv"
    orders.write_text(
        orders.read_text()
        + '"","06b8999e2fba1a1fbc88172c00ba8bc7","delivered","2017-10-02 10:56:33","","","","2017-10-18 00:00:00"\n'
        + '"badtime","06b8999e2fba1a1fbc88172c00ba8bc7","delivered","2017-13-45 25:61:00","","","","2017-10-18 00:00:00"\n'
    )
    items = landing / "olist_order_items_dataset.csv"
    items.write_text(
        items.read_text()
        + '"e481f51cbdc54678b7cc49136f2d6af7","2","87285b34884572647811a353c7ac498a","3504c0cb71d7fa48d967e0e4c94d59d9",'
        '"2017-10-06 11:07:15","-29.99","8.72"\n'
        + '"e481f51cbdc54678b7cc49136f2d6af7","3","too","many","fields","1.00","2.00","3.00"\n'
    )
    _, summary = load_olist_files(str(landing), pipeline=pipeline)

    assert count(pipeline, "orders") == 5 and count(pipeline, "order_items") == 5
    assert summary.tables["orders"]["rejected"] == 2 and summary.tables["order_items"]["rejected"] == 2
    rejected = rows(
        pipeline, "select source_row, column_name, reason from {ds}.orders__rejected order by source_row"
    )
    assert rejected[0][:2] == (7, "order_id") and "missing required value" in rejected[0][2]
    assert rejected[1][:2] == (8, "order_purchase_timestamp") and "2017-13-45 25:61:00" in rejected[1][2]
    rejected = rows(
        pipeline, "select source_row, column_name, reason, record from {ds}.order_items__rejected order by 1"
    )
    assert rejected[0][:2] == (7, "price") and "negative" in rejected[0][2]
    assert json.loads(rejected[0][3])["price"] == "-29.99"
    assert rejected[1][0] == 8 and "8 fields, the header has 7" in rejected[1][2]
    assert all(
        str(landing / "olist_order_items_dataset.csv") in r[0]
        for r in rows(pipeline, "select source_file from {ds}.order_items__rejected")
    )


def test_a_missing_required_column_fails_loudly_naming_file_and_column(tmp_path: Path, pipeline) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    text = olist_samples.FILES["olist_orders_dataset.csv"].replace('"order_status",', "")
    lines = [line.rsplit(",", 0)[0] for line in text.splitlines()]
    (landing / "olist_orders_dataset.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(PipelineStepFailed) as failure:
        load_olist_files(str(landing), pipeline=pipeline, tables=["orders"])
    message = str(failure.value)
    assert "olist_orders_dataset.csv" in message and "missing required column(s) order_status" in message


def test_a_new_column_evolves_the_raw_table(tmp_path: Path, pipeline) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    lines = olist_samples.FILES["olist_customers_dataset.csv"].splitlines()
    lines = [lines[0] + ',"customer_segment_hint"'] + [line + ',"vip"' for line in lines[1:]]
    (landing / "olist_customers_dataset.csv").write_text("\n".join(lines) + "\n")
    load_olist_files(str(landing), pipeline=pipeline, tables=["customers"])
    assert rows(pipeline, "select distinct customer_segment_hint from {ds}.customers") == [("vip",)]


def test_an_unreadable_file_is_quarantined_and_the_other_files_load(tmp_path: Path, pipeline) -> None:
    landing = olist_samples.write(tmp_path / "landing", ["olist_customers_dataset.csv"])
    broken = landing / "batch_0002"
    broken.mkdir()
    (broken / "olist_customers_dataset.csv").write_bytes(
        b'"customer_id","customer_unique_id"\n"\xff\xfe\x00bad'
    )
    _, summary = load_olist_files(str(landing), pipeline=pipeline, tables=["customers"])
    assert count(pipeline, "customers") == 5
    rejected = rows(pipeline, "select source_file, source_row, reason from {ds}.customers__rejected")
    assert len(rejected) == 1 and rejected[0][0].endswith("batch_0002/olist_customers_dataset.csv")
    assert rejected[0][1] is None and "cannot be read" in rejected[0][2]
    assert summary.tables["customers"]["rejected"] == 1


def test_parquet_and_json_lines_files_load_like_csv(tmp_path: Path, pipeline) -> None:
    landing = tmp_path / "landing"
    csv_dir = olist_samples.write(
        tmp_path / "csv", ["olist_orders_dataset.csv", "olist_customers_dataset.csv"]
    )
    landing.mkdir()
    read = pacsv.ConvertOptions(
        strings_can_be_null=True, column_types={"customer_zip_code_prefix": pa.string()}
    )
    pq.write_table(
        pacsv.read_csv(csv_dir / "olist_orders_dataset.csv", convert_options=read),
        landing / "olist_orders_dataset.parquet",
    )
    customers = pacsv.read_csv(csv_dir / "olist_customers_dataset.csv", convert_options=read)
    with open(landing / "olist_customers_dataset.jsonl", "w") as handle:
        for record in customers.to_pylist():
            handle.write(json.dumps(record) + "\n")
    _, summary = load_olist_files(str(landing), pipeline=pipeline, tables=["orders", "customers"])
    assert summary.rows_rejected == 0
    assert count(pipeline, "orders") == 5 and count(pipeline, "customers") == 5
    assert rows(
        pipeline, "select order_purchase_timestamp from {ds}.orders where order_status = 'canceled'"
    ) == [("2018-08-08 08:38:49",)]
    assert rows(
        pipeline, "select customer_zip_code_prefix from {ds}.customers where customer_city = 'franca'"
    ) == [("14409",)]


def test_an_s3_landing_folder_loads(tmp_path: Path, pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket="landing")
        for name, text in olist_samples.FILES.items():
            s3.put_object(Bucket="landing", Key=f"olist/batch_0001/{name}", Body=text.encode())
        _, summary = load_olist_files("s3://landing/olist", pipeline=pipeline)
        assert {t: s["rows"] for t, s in summary.tables.items()} == EXPECTED_ROWS
        _, again = load_olist_files("s3://landing/olist", pipeline=pipeline)
        assert again.rows_loaded == 0
    finally:
        server.stop()


def test_impossible_calendar_dates_are_rejected_not_rolled_over() -> None:
    from ingestion.olist_files import TABLES, validate

    table = pa.table(
        {
            "order_id": ["a", "b", "c"],
            "customer_id": ["x", "x", "x"],
            "order_status": ["delivered"] * 3,
            "order_purchase_timestamp": ["2018-02-30 12:00:00", "2018-02-28 24:00:00", "2018-02-28 23:59:59"],
            **{c: pa.array([None] * 3, pa.string()) for c in TABLES["orders"].timestamps[1:]},
            "_source_row": [2, 3, 4],
        }
    )
    good, rejected = validate(table, TABLES["orders"], "orders.csv")
    assert good["order_id"].to_pylist() == ["c"]
    assert [(r["source_row"], r["column_name"]) for r in rejected] == [
        (2, "order_purchase_timestamp"),
        (3, "order_purchase_timestamp"),
    ]


ORDERS_HEADER = olist_samples.FILES["olist_orders_dataset.csv"].splitlines()[0]
REVIEWS_HEADER = olist_samples.FILES["olist_order_reviews_dataset.csv"].splitlines()[0]


def _order(order_id: str, status: str = "delivered", purchased: str = "2018-01-02 10:00:00") -> str:
    return f'"{order_id}","{"c" * 32}","{status}","{purchased}","","","","2018-01-20 00:00:00"'


def _review(review_id: str, order_id: str, message: str) -> str:
    return f'"{review_id}","{order_id}","5","","{message}","2018-01-21 00:00:00","2018-01-22 10:00:00"'


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of about 1 KB (a dozen records) and 10 rows, so that small files span many batches."""
    from ingestion import olist_files

    monkeypatch.setattr(olist_files, "BATCH_BYTES", 1024)
    monkeypatch.setattr(olist_files, "BATCH_ROWS", 10)


@pytest.mark.parametrize("read_ahead", [True, False], ids=["later-keys-read-ahead", "dedup-rewrites"])
def test_files_larger_than_a_batch_keep_row_numbers_dedup_and_quarantine(
    tmp_path: Path, pipeline, small_batches, read_ahead: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of dropping superseded rows give the same rows: the later file's keys read ahead
    (the earlier file is written without them), or the earlier file's CSV rewritten after the dedup."""
    from ingestion import olist_files

    if not read_ahead:
        monkeypatch.setattr(olist_files, "SUPERSEDING_KEYS_MAX", 0)
    landing = tmp_path / "landing"
    (landing / "batch_0001").mkdir(parents=True)
    (landing / "batch_0002").mkdir()
    # 120 orders, 15 KB: order 5 again at record 100 (a later status), two bad rows in between
    records = [_order(f"{i:032x}") for i in range(120)]
    records[30] = _order("")
    records[77] = _order(f"{77:032x}", purchased="2018-02-30 10:00:00")
    records[100] = _order(f"{5:032x}", status="shipped")
    (landing / "batch_0001" / "olist_orders_dataset.csv").write_text(
        "\n".join([ORDERS_HEADER, *records]) + "\n"
    )
    # a later file changes order 7 and adds order 1000
    later = [_order(f"{7:032x}", status="canceled"), _order(f"{1000:032x}")]
    (landing / "batch_0002" / "olist_orders_dataset.csv").write_text(
        "\n".join([ORDERS_HEADER, *later]) + "\n"
    )
    # 100 reviews whose messages hold line breaks, so records and lines differ; record 90 has a
    # field too many (the file is read again row by row), and the pair of record 10 comes again at 95
    reviews = [_review(f"{i:032x}", f"{i:032x}", f"linha 1\nlinha {i}") for i in range(100)]
    reviews[90] = reviews[90] + ',"extra"'
    reviews[95] = _review(f"{10:032x}", f"{10:032x}", "the newer review")
    (landing / "batch_0001" / "olist_order_reviews_dataset.csv").write_text(
        "\n".join([REVIEWS_HEADER, *reviews]) + "\n"
    )

    _, summary = load_olist_files(str(landing), pipeline=pipeline, tables=["orders", "order_reviews"])

    assert summary.tables["orders"] == {"files": 2, "rows": 120, "rejected": 2, "skipped_files": 0}
    assert count(pipeline, "orders") == 118
    by_order = {
        order_id: (status, source_row, source_file.rsplit("/", 2)[-2])
        for order_id, status, source_row, source_file in rows(
            pipeline, "select order_id, order_status, _source_row, _source_file from {ds}.orders"
        )
    }
    assert by_order[f"{0:032x}"] == ("delivered", 2, "batch_0001")
    assert by_order[f"{5:032x}"] == ("shipped", 102, "batch_0001")  # the last row of the key wins
    assert by_order[f"{7:032x}"] == ("canceled", 2, "batch_0002")  # the last file wins
    assert by_order[f"{119:032x}"] == ("delivered", 121, "batch_0001")
    assert by_order[f"{1000:032x}"] == ("delivered", 3, "batch_0002")
    assert rows(
        pipeline, "select source_row, column_name, reason from {ds}.orders__rejected order by source_row"
    ) == [
        (32, "order_id", "missing required value"),
        (
            79,
            "order_purchase_timestamp",
            "malformed timestamp (expected YYYY-MM-DD HH:MM:SS): '2018-02-30 10:00:00'",
        ),
    ]

    assert summary.tables["order_reviews"] == {"files": 1, "rows": 99, "rejected": 1, "skipped_files": 0}
    assert count(pipeline, "order_reviews") == 98
    assert rows(
        pipeline,
        "select source_row, reason from {ds}.order_reviews__rejected",
    ) == [(92, "row has 8 fields, the header has 7")]
    assert rows(
        pipeline,
        "select _source_row, review_comment_message from {ds}.order_reviews "
        f"where review_id in ('{10:032x}', '{99:032x}') order by 1",
    ) == [(97, "the newer review"), (101, "linha 1\nlinha 99")]


def test_json_lines_larger_than_a_batch_number_their_records(tmp_path: Path, pipeline, small_batches) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    customers = [
        {
            "customer_id": f"{i:032x}",
            "customer_unique_id": f"{i % 7:032x}",
            "customer_zip_code_prefix": f"{i:05d}",
            "customer_city": "franca",
            "customer_state": "SP",
        }
        for i in range(80)
    ]
    customers[50]["customer_unique_id"] = None
    (landing / "olist_customers_dataset.jsonl").write_text("".join(json.dumps(c) + "\n" for c in customers))
    _, summary = load_olist_files(str(landing), pipeline=pipeline, tables=["customers"])
    assert summary.tables["customers"]["rows"] == 79 and summary.tables["customers"]["rejected"] == 1
    assert rows(pipeline, "select source_row, column_name from {ds}.customers__rejected") == [
        (51, "customer_unique_id")
    ]
    assert rows(
        pipeline, "select _source_row, customer_zip_code_prefix from {ds}.customers order by 1 desc limit 1"
    ) == [(80, "00079")]


def test_a_file_unreadable_after_its_first_batch_loads_none_of_its_rows(
    tmp_path: Path, pipeline, small_batches
) -> None:
    landing = olist_samples.write(tmp_path / "landing", ["olist_orders_dataset.csv"])
    broken = landing / "batch_0002"
    broken.mkdir()
    text = "\n".join([ORDERS_HEADER, *(_order(f"{i:032x}") for i in range(100))]) + "\n"
    data = text.encode()
    bad_at = data.index(f"{90:032x}".encode())  # record 90 is on line 92
    (broken / "olist_orders_dataset.csv").write_bytes(data[:bad_at] + b"\xff" + data[bad_at + 1 :])

    _, summary = load_olist_files(str(landing), pipeline=pipeline, tables=["orders"])

    assert count(pipeline, "orders") == 5  # the first file only
    assert summary.tables["orders"] == {"files": 2, "rows": 5, "rejected": 1, "skipped_files": 0}
    rejected = rows(pipeline, "select source_file, source_row, reason from {ds}.orders__rejected")
    assert len(rejected) == 1 and rejected[0][0].endswith("batch_0002/olist_orders_dataset.csv")
    assert rejected[0][1] is None
    assert f"not UTF-8 (byte {bad_at}, line 92)" in rejected[0][2]


def test_a_new_column_in_a_later_file_of_the_same_load(tmp_path: Path, pipeline, small_batches) -> None:
    landing = olist_samples.write(tmp_path / "landing" / "batch_0001", ["olist_customers_dataset.csv"]).parent
    lines = olist_samples.FILES["olist_customers_dataset.csv"].splitlines()
    changed = lines[1].replace('"franca"', '"franca do imperador"')
    (landing / "batch_0002").mkdir()
    (landing / "batch_0002" / "olist_customers_dataset.csv").write_text(
        f'{lines[0]},"customer_segment_hint"\n{changed},"vip"\n'
    )
    load_olist_files(str(landing), pipeline=pipeline, tables=["customers"])
    assert rows(
        pipeline,
        "select customer_city, customer_segment_hint, count(*) from {ds}.customers group by 1, 2 order by 1",
    ) == [
        ("campinas", None, 1),
        ("franca do imperador", "vip", 1),
        ("mogi das cruzes", None, 1),
        ("sao bernardo do campo", None, 1),
        ("sao paulo", None, 1),
    ]


def test_last_row_per_key_marks_superseded_rows_across_batches() -> None:
    """The dedup behind every merge table: the last row of each key, in batch order, is kept;
    None (nothing to rewrite) when every key is distinct, also when only the pair is."""
    from ingestion.olist_files import _last_row_per_key

    def keys(**columns: list[list[str]]) -> dict[str, list[pa.ChunkedArray]]:
        return {
            name: [pa.chunked_array([batch], pa.string()) for batch in batches]
            for name, batches in columns.items()
        }

    assert _last_row_per_key(keys(order_id=[["a", "b"], ["c"]]), 3) is None
    # an item number repeats, the pair does not: nothing superseded
    assert _last_row_per_key(keys(order_id=[["a", "a"], ["b"]], item=[["1", "2"], ["1"]]), 3) is None
    # order a comes again in the second batch: its first row is superseded
    assert _last_row_per_key(keys(order_id=[["a", "b"], ["a"]]), 3).to_pylist() == [False, True, True]
    # the pair (a, 1) comes again; (a, 2) and (b, 1) share one value each with it but are other keys
    assert _last_row_per_key(
        keys(order_id=[["a", "a", "b"], ["a"]], item=[["1", "2", "1"], ["1"]]), 4
    ).to_pylist() == [False, True, True, True]
