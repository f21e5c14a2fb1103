"""Apply a supplier's price list to the catalog.

    python examples/apply_price_list.py prices.csv

``prices.csv`` has a header row ``sku,price``, then one item per row. Each row is its own
unit of work, through the same use case the service would run: one bad row (an unknown SKU,
a price the shop refuses) is reported and skipped, and never undoes the rows before it.

The database is the one the service uses: ``STOCKROOM_DATABASE_URL`` and the other
``STOCKROOM_`` settings, read by the container as the API and the ``stockroom`` command do.
"""

from __future__ import annotations

import asyncio
import csv
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from domain.errors import DomainError
from entrypoints.container import build_container, dispose
from service_layer.services.items import reprice_by_sku


async def apply_price_list(path: Path) -> int:
    """Reprice every row of ``path``; how many rows could not be applied."""
    container = build_container()
    skipped = 0
    try:
        with path.open(newline="", encoding="utf-8") as file:
            for row in csv.DictReader(file):
                sku, price_text = row["sku"], row["price"]
                try:
                    # container.uow() is a fresh unit of work for each call: never reuse one.
                    change = await reprice_by_sku(container.uow(), sku, Decimal(price_text))
                except InvalidOperation:
                    print(f"{sku}: {price_text!r} is not a price, skipped")
                except DomainError as error:  # unknown SKU, negative price, ...
                    print(f"{sku}: {error}, skipped")
                else:
                    if change.changed:
                        print(f"{change.sku}: {change.old} -> {change.new}")
                    continue
                skipped += 1
    finally:
        await dispose(container)  # close the pool's connections before the loop ends
    return skipped


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PRICE_LIST.csv")
    skipped = asyncio.run(apply_price_list(Path(sys.argv[1])))
    print(f"{skipped} row(s) skipped" if skipped else "all rows applied")
