"""The load generator: wrk (compiled, event-driven) with a generated Lua script per endpoint.
The script counts every status outside 2xx and prints one JSON line of exact figures
(microsecond percentiles from wrk's histogram): nothing parses wrk's human-readable units."""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.cases import Endpoint

REPORT_LUA = r"""
local threads = {}
function setup(thread) thread:set("id", #threads + 1); table.insert(threads, thread) end
function init(args) math.randomseed(os.time() * 1000 + id); bad = 0 end
function response(status) if status < 200 or status > 299 then bad = bad + 1 end end
function done(summary, latency)
  local bad_total, e = 0, summary.errors
  for _, thread in ipairs(threads) do bad_total = bad_total + thread:get("bad") end
  io.write(string.format('WRK_JSON {"requests": %d, "us": %d, "non_2xx": %d, "socket": %d, ' ..
    '"p50": %d, "p99": %d}\n', summary.requests, summary.duration, bad_total,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    us: int  # how long wrk measured
    non_2xx: int
    socket: int  # connect, read and write errors, and timeouts (5 s)
    p50: int  # microseconds
    p99: int

    @property
    def rps(self) -> float:
        return self.requests / self.us * 1e6

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket


def _lua_text(template: str) -> str:
    """A Lua expression for ``template`` with item number ``n`` in place of {n} and {sku}."""
    pattern = template.replace("%", "%%").replace("{n}", "%d").replace("{sku}", "BENCH-%05d")
    count = template.count("{n}") + template.count("{sku}")
    return f"string.format({json.dumps(pattern)}{', n' * count})" if count else json.dumps(pattern)


def script(endpoint: Endpoint, token: str, items: int) -> str:
    """Each request for a random item of 1..``items``."""
    pairs = [f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in endpoint.headers(token).items()]
    headers = "{" + ", ".join(pairs) + "}" if pairs else "nil"
    path, body = _lua_text(endpoint.path), _lua_text(endpoint.body) if endpoint.body else "nil"
    build = f"wrk.format({json.dumps(endpoint.method)}, {path}, headers, {body})"
    request = f"function request()\n  local n = math.random(1, {items})\n  return {build}\nend"
    return f"local headers = {headers}\n{request}\n{REPORT_LUA}"


def run(url: str, script: Path, connections: int, seconds: int) -> WrkResult:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout=5s", "--latency"]
    done = subprocess.run([*argv, "-s", str(script), url], capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK_JSON ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return WrkResult(**json.loads(line.removeprefix("WRK_JSON ")))
