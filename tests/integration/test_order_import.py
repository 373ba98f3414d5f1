"""`helpdesk import orders FILE.csv` (helpdesk/customers/order_import.py): one row per line item,
bad rows reported by line number while the valid rows are kept, a re-run changes nothing; and
`helpdesk shops add|list|remove`."""
from __future__ import annotations

import asyncio
import csv
from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import func, select

from helpdesk.cli import cli
from helpdesk.db import make_engine, make_session_factory
from helpdesk.models import Customer, Order, OrderItem, Shop

HEADER = ("order_id,number,status,currency,total,placed_at,updated_at,email,phone,name,"
          "item_sku,item_title,item_quantity,item_price\n")
GOOD = [
    "A-1,#1,paid,EUR,19.00,2026-03-01T09:00:00+01:00,,ann@example.com,,Ann Lee,SEN,Sencha,2,9.50",
    "A-2,#2,fulfilled,EUR,46.00,2026-03-02,,bob@example.com,+49 151 2345 6789,Bob,KET,Kettle,1,40.00",
    "A-2,,,,,,,,,,CUP,Cup,1,6.00",  # a row right after its order's may leave the order's columns empty
    "A-1,#1,paid,EUR,19.00,2026-03-01T09:00:00+01:00,,ANN@example.com,,Ann Lee,CUP,Cup,1,0.00",  # not adjacent
]
BAD = [
    "A-3,#3,paid,EURO,10.00,2026-03-03,,cat@example.com,,Cat,SEN,Sencha,1,10.00",  # currency
    "A-4,#4,paid,EUR,ten,2026-03-03,,dan@example.com,,Dan,SEN,Sencha,1,10.00",  # total
    "A-5,#5,paid,EUR,10.00,yesterday,,eve@example.com,,Eve,SEN,Sencha,1,10.00",  # placed_at
    "A-6,#6,paid,EUR,10.00,2026-03-03,,,,Nobody,SEN,Sencha,1,10.00",  # no customer
    "A-7,#7,paid,EUR,10.00,2026-03-03,,fay@example.com,,Fay,SEN,Sencha,none,10.00",  # quantity
]


def invoke(settings, monkeypatch, *args, input: str | None = None):
    monkeypatch.setenv("HELPDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HELPDESK_SECRET_KEY", settings.secret_key)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)


def counts(settings) -> tuple[int, int, int]:
    async def query():
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            result = tuple([await session.scalar(select(func.count()).select_from(m))
                            for m in (Order, OrderItem, Customer)])
        await engine.dispose()
        return result

    return asyncio.run(query())


def test_bad_rows_are_reported_by_line_and_the_valid_rows_are_kept(settings, tmp_path, monkeypatch):
    file = tmp_path / "orders.csv"
    file.write_text(HEADER + "\n".join(GOOD[:3] + BAD + GOOD[3:]) + "\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    done = invoke(settings, monkeypatch, "import", "orders", str(file), "--errors", str(errors))
    assert done.exit_code == 3, done.output
    assert "orders.csv:5: currency must be a three-letter code" in done.output
    assert "orders.csv:6: total is not an amount: 'ten'" in done.output
    assert "orders.csv:7: placed_at is not a date" in done.output
    assert "orders.csv:8: the row names no customer" in done.output
    assert "orders.csv:9: item_quantity must be a whole number" in done.output
    assert "9 rows: 2 orders created, 0 updated, 0 unchanged (newer stored), 2 customers created, 5 rows skipped" \
        in done.output
    assert [(int(line), why) for line, why in list(csv.reader(errors.open()))[1:]] == [
        (5, "currency must be a three-letter code (EUR, USD): 'EURO'"), (6, "total is not an amount: 'ten'"),
        (7, "placed_at is not a date (2026-03-01 or 2026-03-01T09:30:00+01:00): 'yesterday'"),
        (8, "the row names no customer: give email or phone"),
        (9, "item_quantity must be a whole number of at least 1: 'none'")]
    assert counts(settings) == (2, 4, 2)


def test_a_second_run_changes_nothing_even_across_batches(settings, tmp_path, monkeypatch):
    file = tmp_path / "orders.csv"
    file.write_text(HEADER + "\n".join(GOOD) + "\n", encoding="utf-8")
    first = invoke(settings, monkeypatch, "import", "orders", str(file), "--batch-rows", "1")
    assert first.exit_code == 0, first.output
    assert counts(settings) == (2, 4, 2)
    again = invoke(settings, monkeypatch, "import", "orders", str(file))
    assert again.exit_code == 0 and "0 orders created, 2 updated" in again.output and "0 customers created" in again.output
    assert counts(settings) == (2, 4, 2)

    async def stored():
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            order = await session.scalar(select(Order).where(Order.external_id == "A-2"))
            items = sorted((i.sku, i.quantity, i.unit_price) for i in await session.scalars(
                select(OrderItem).where(OrderItem.order_id == order.id)))
        await engine.dispose()
        return order, items

    order, items = asyncio.run(stored())
    assert (order.source, order.number, order.total) == ("csv", "#2", Decimal("46.00"))
    assert items == [("CUP", 1, Decimal("6.00")), ("KET", 1, Decimal("40.00"))]


def test_a_file_without_an_order_id_column_is_refused_in_one_line(settings, tmp_path, monkeypatch):
    file = tmp_path / "orders.csv"
    file.write_text("number,total\n#1,10\n", encoding="utf-8")
    done = invoke(settings, monkeypatch, "import", "orders", str(file))
    assert done.exit_code == 1 and "no order id column" in done.output


def test_shops_are_added_listed_without_their_secret_and_removed(settings, monkeypatch):
    added = invoke(settings, monkeypatch, "shops", "add", "--name", "Leaf & Kettle", "--domain",
                   "Leaf-and-Kettle.myshopify.com", input="very-secret-value\n")
    assert added.exit_code == 0, added.output
    assert "leaf-and-kettle.myshopify.com added" in added.output and "very-secret-value" not in added.output
    listed = invoke(settings, monkeypatch, "shops", "list")
    assert "leaf-and-kettle.myshopify.com" in listed.output and "very-secret-value" not in listed.output

    async def secret():
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            value = await session.scalar(select(Shop.webhook_secret))
        await engine.dispose()
        return value

    assert "very-secret-value" not in asyncio.run(secret())  # encrypted at rest
    assert invoke(settings, monkeypatch, "shops", "add", "--name", "Again", "--domain",
                  "leaf-and-kettle.myshopify.com", "--secret", "x").exit_code == 1
    removed = invoke(settings, monkeypatch, "shops", "remove", "leaf-and-kettle.myshopify.com")
    assert removed.exit_code == 0 and "removed" in removed.output
