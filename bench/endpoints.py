"""The three endpoints every comparator serves, as wrk scripts and single probe requests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import wrk
from bench.seed import sku


@dataclass(frozen=True)
class Endpoint:
    key: str
    label: str
    expected_status: int

    def lua(self, item_count: int, token: str) -> str:
        return _LUA[self.key].replace("ITEM_COUNT", str(item_count)).replace("TOKEN", token)

    def probe(self, base_url: str, token: str) -> tuple[int, object]:
        """One request as wrk will send it: (status, parsed JSON body)."""
        method, path, body = _PROBES[self.key]
        request = urllib.request.Request(
            base_url + path,
            method=method,
            data=body.encode() if body else None,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            if body
            else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


GET_ITEM = Endpoint("get_item", "GET /items/{id}", 200)
LIST_ITEMS = Endpoint("list_items", "GET /items/?limit=20", 200)
POST_ORDER = Endpoint("post_order", "POST /orders/", 201)
ALL = (GET_ITEM, LIST_ITEMS, POST_ORDER)
BY_KEY = {endpoint.key: endpoint for endpoint in ALL}

_LUA = {
    # A random item per request: the whole seeded catalog, not one hot row.
    "get_item": """
function request()
  return wrk.format("GET", "/items/" .. math.random(1, ITEM_COUNT))
end
""",
    "list_items": """
local page = wrk.format("GET", "/items/?limit=20")
function request()
  return page
end
""",
    # One line, one unit, a random SKU: row locks rarely collide, stock never runs out.
    "post_order": """
local headers = {
  ["Content-Type"] = "application/json",
  ["Authorization"] = "Bearer TOKEN",
}
function request()
  local body = string.format(
    '{"lines": [{"sku": "BENCH-%05d", "quantity": 1}]}', math.random(1, ITEM_COUNT))
  return wrk.format("POST", "/orders/", headers, body)
end
""",
}

_PROBES = {
    "get_item": ("GET", "/items/1", ""),
    "list_items": ("GET", "/items/?limit=20", ""),
    "post_order": ("POST", "/orders/", json.dumps({"lines": [{"sku": sku(1), "quantity": 1}]})),
}


def write_scripts(directory: Path, item_count: int, token: str) -> dict[str, Path]:
    return {
        endpoint.key: wrk.write_script(directory, endpoint.key, endpoint.lua(item_count, token))
        for endpoint in ALL
    }
