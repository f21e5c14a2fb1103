"""The load generator: wrk (compiled, event-driven), driven by a Lua script per endpoint.

The script's ``response`` hook counts every status outside 2xx, and its ``done`` hook prints
one JSON line with exact figures (microsecond percentiles from wrk's histogram), so nothing
depends on parsing wrk's human-readable units.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.cases import Endpoint

REPORT_LUA = r"""
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(os.time() * 1000 + id)
  bad = 0
end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do bad_total = bad_total + thread:get("bad") end
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests": %d, "us": %d, "non_2xx": %d, ' ..
    '"socket": %d, "p50": %d, "p99": %d}\n', summary.requests, summary.duration, bad_total,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int  # connect, read and write errors, and timeouts (5 s)
    p50_ms: float
    p99_ms: float
    cpu_seconds: float  # wrk's own user + system time

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def _lua_string(template: str) -> str:
    """A Lua expression building ``template`` for item number ``n``."""
    count = template.count("{n}") + template.count("{sku}")
    pattern = template.replace("%", "%%").replace("{n}", "%d").replace("{sku}", "BENCH-%05d")
    return f"string.format({json.dumps(pattern)}{', n' * count})" if count else json.dumps(pattern)


def script(endpoint: Endpoint, token: str, items: int) -> str:
    """The Lua for one endpoint: a random item per request where the request names one."""
    headers = endpoint.headers(token)
    lua_headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    body = _lua_string(endpoint.body) if endpoint.body else "nil"
    method, path = json.dumps(endpoint.method), _lua_string(endpoint.path)
    build = f"wrk.format({method}, {path}, headers, {body})"
    if "{n}" in endpoint.path + endpoint.body or "{sku}" in endpoint.path + endpoint.body:
        request = f"function request()\n  local n = math.random(1, {items})\n  return {build}\nend"
    else:  # the same request every time: built once
        request = f"local req = {build}\nfunction request() return req end"
    headers_lua = f"{{{lua_headers}}}" if headers else "nil"
    return f"local headers = {headers_lua}\n{request}\n{REPORT_LUA}"


def run(url: str, script: Path, connections: int, seconds: int, threads: int = 2) -> WrkResult:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout=5s"]
    with tempfile.TemporaryFile() as out:
        argv += ["--latency", "-s", str(script), url]
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        # wait4 reaps wrk and hands back its rusage: the load generator's own CPU time.
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    line = next((x for x in text.splitlines() if x.startswith("WRK_JSON ")), None)
    if process.returncode or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}):\n{text}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=data["requests"],
        seconds=data["us"] / 1e6,
        non_2xx=data["non_2xx"],
        socket_errors=data["socket"],
        p50_ms=data["p50"] / 1000,
        p99_ms=data["p99"] / 1000,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
