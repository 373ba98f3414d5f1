"""Orders from a CSV file (`helpdesk import orders FILE.csv`; the columns are in docs/orders.md).

One row per line item. The file is read as a stream, a batch of rows at a time, and each batch goes
through the one order upsert (`orders.upsert_orders_bulk`), so a file of any size takes the same
memory and a second run changes nothing. A row that cannot be read is reported with its line
number and left out; every other row is kept.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from helpdesk.customers.orders import ItemIn, OrderIn, upsert_orders_bulk

BATCH_ROWS = 5000
SHOWN_ERRORS = 50  # kept for the summary; all of them go to the errors file when one is given
ORDER_ID_COLUMNS = ("order_id", "external_id")
COLUMNS = ("order_id", "number", "status", "currency", "total", "placed_at", "updated_at", "email", "phone", "name",
           "item_id", "item_sku", "item_title", "item_quantity", "item_price")


class RowInvalid(ValueError):
    """A row that cannot be read: the message says which column and why."""


class FileInvalid(ValueError):
    """A file that cannot be imported at all (no order id column, not CSV)."""


@dataclass
class ImportReport:
    rows: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0  # the stored version is newer (or as new and dated while the file is not)
    customers_created: int = 0
    rows_skipped: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, why): the first SHOWN_ERRORS

    def skip(self, lines: list[int], why: str, sink: Callable[[int, str], None] | None) -> None:
        for line in lines:
            self.rows_skipped += 1
            if len(self.errors) < SHOWN_ERRORS:
                self.errors.append((line, why))
            if sink is not None:
                sink(line, why)


@dataclass
class _Pending:
    """An order being gathered from its rows in one batch."""

    order: dict
    items: list[ItemIn]
    lines: list[int]


async def import_orders(sessions, path: Path, *, source: str = "csv", batch_rows: int = BATCH_ROWS,
                        progress: Callable[[int], None] | None = None,
                        on_error: Callable[[int, str], None] | None = None) -> ImportReport:
    """Import the file; `progress(bytes_read)` after each batch, `on_error(line, why)` for every skipped row."""
    report = ImportReport()
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        try:
            for batch in _batches(csv.reader(text), report, source, batch_rows, on_error):
                await _store(sessions, batch, report, on_error)
                if progress is not None:
                    progress(raw.tell())
        except (UnicodeDecodeError, csv.Error) as error:
            raise FileInvalid(f"not a UTF-8 CSV file: {error}") from None
    return report


def _batches(reader, report: ImportReport, source: str, batch_rows: int, on_error) -> Iterator[dict]:
    header = next(reader, None)
    if header is None:
        raise FileInvalid("the file is empty: the first line names the columns (docs/orders.md)")
    names = [name.strip().lower() for name in header]
    id_column = next((c for c in ORDER_ID_COLUMNS if c in names), None)
    if id_column is None:
        raise FileInvalid(f"no order id column: the first line must name order_id (or external_id); "
                          f"it names {', '.join(names)}")
    index = {name: names.index(name) for name in COLUMNS if name in names}
    index["order_id"] = names.index(id_column)
    batch: dict[str, _Pending] = {}
    rows_in_batch = 0
    last_id = None
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        report.rows += 1
        values = {name: row[i].strip() if i < len(row) else "" for name, i in index.items()}
        order_id = values["order_id"]
        # a batch ends between two orders, so an order's adjacent rows stay together
        if rows_in_batch >= batch_rows and order_id != last_id:
            yield batch
            batch, rows_in_batch = {}, 0
        last_id = order_id
        rows_in_batch += 1
        try:
            if not order_id:
                raise RowInvalid("order_id is empty")
            item = _item(values)
            pending = batch.get(order_id)
            if pending is None:
                pending = batch[order_id] = _Pending(_order_fields(values, source), [], [])
            if item is not None:
                pending.items.append(item)
            pending.lines.append(line)
        except RowInvalid as error:
            report.skip([line], str(error), on_error)
    if batch:
        yield batch


async def _store(sessions, batch: dict[str, _Pending], report: ImportReport, on_error) -> None:
    orders = [OrderIn(**pending.order, items=tuple(pending.items)) for pending in batch.values()]
    async with sessions() as session:
        result = await upsert_orders_bulk(session, orders)
        await session.commit()
    report.customers_created += result.customers_created
    for done in result.orders:
        if done.skipped:
            report.skip(batch[done.external_id].lines, done.skipped, on_error)
        elif done.stale:
            report.orders_unchanged += 1
        elif done.created:
            report.orders_created += 1
        else:
            report.orders_updated += 1


def _order_fields(values: dict, source: str) -> dict:
    if not any(values.get(name) for name in ("currency", "total", "placed_at", "email", "phone")):
        raise RowInvalid("the order's columns are empty: a row may leave them empty only right after "
                         "a row of the same order")
    currency = values.get("currency", "").upper()
    if len(currency) != 3 or not currency.isalpha():
        raise RowInvalid(f"currency must be a three-letter code (EUR, USD): {values.get('currency', '')!r}")
    if not values.get("email") and not values.get("phone"):
        raise RowInvalid("the row names no customer: give email or phone")
    return {"source": source, "external_id": values["order_id"], "number": values.get("number") or values["order_id"],
            "status": values.get("status") or "open", "currency": currency,
            "total": _amount(values.get("total", ""), "total"),
            "placed_at": _moment(values.get("placed_at", ""), "placed_at"),
            "updated_at": _moment(values["updated_at"], "updated_at") if values.get("updated_at") else None,
            "email": values.get("email") or None, "phone": values.get("phone") or None,
            "name": values.get("name") or None}


def _item(values: dict) -> ItemIn | None:
    title, sku = values.get("item_title", ""), values.get("item_sku", "")
    if not title and not sku:
        return None
    quantity = values.get("item_quantity") or "1"
    if not quantity.isdigit() or int(quantity) < 1:
        raise RowInvalid(f"item_quantity must be a whole number of at least 1: {quantity!r}")
    return ItemIn(title=title or sku, quantity=int(quantity), unit_price=_amount(values.get("item_price", ""),
                                                                                   "item_price"),
                  sku=sku or None, external_id=values.get("item_id") or None)


def _amount(value: str, column: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise RowInvalid(f"{column} is not an amount: {value!r}") from None
    if not amount.is_finite() or abs(amount) >= 10**10:
        raise RowInvalid(f"{column} is out of range: {value!r}")
    return amount


def _moment(value: str, column: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowInvalid(f"{column} is not a date (2026-03-01 or 2026-03-01T09:30:00+01:00): {value!r}") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
