"""The example scripts run as a user runs them: a real process, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from adapters.database import Database
from service_layer.services.items import NewItem, add_item
from tests.integration.cli_support import Target
from tests.integration.units import reads_of, unit_of_work

EXAMPLES = Path(__file__).parents[2] / "examples"


def run_example(name: str, *args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env["STOCKROOM_DATABASE_URL"] = url
    return subprocess.run(  # noqa: S603 - our own example, with this interpreter
        [sys.executable, str(EXAMPLES / name), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def prices(database: Database) -> dict[str, Decimal]:
    return {view.sku: view.price for view in await reads_of(database).latest.items()}


async def test_apply_price_list_reprices_known_skus_and_reports_the_rest(
    target: Target, tmp_path: Path
) -> None:
    for sku, price in (("PL-1", "4.00"), ("PL-2", "10.00"), ("PL-3", "7.25")):
        await add_item(unit_of_work(target.database), NewItem("Item", sku, price=Decimal(price)))
    price_list = tmp_path / "supplier.csv"
    price_list.write_text(
        "sku,price\npl-1,4.50\nNOPE-1,3.00\nPL-2,ten\nPL-3,7.25\nPL-2,-1\n", encoding="utf-8"
    )

    result = run_example("apply_price_list.py", str(price_list), url=target.url, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "PL-1: 4.00 -> 4.50",
        "NOPE-1: unknown SKU(s): NOPE-1, skipped",
        "PL-2: 'ten' is not a price, skipped",
        "PL-2: price must be between 0 and 99999999.99, skipped",
        "3 row(s) skipped",
    ]
    assert await prices(target.database) == {
        "PL-1": Decimal("4.50"),
        "PL-2": Decimal("10.00"),
        "PL-3": Decimal("7.25"),
    }
    assert os.listdir(tmp_path) == [price_list.name]  # no embedded database made by mistake


def test_apply_price_list_without_a_file_says_how_to_call_it(tmp_path: Path) -> None:
    result = run_example("apply_price_list.py", url="sqlite+aiosqlite:///unused.db", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("usage: ")
    assert list(tmp_path.iterdir()) == []
