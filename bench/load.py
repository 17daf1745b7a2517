"""Load benchmark of the HTTP service on loopback.

Starts the server itself (``python -m api.server``, ``--workers`` processes, rate limit off, a throw-away
SQLite question log, so every answer is also logged), waits until every worker is ready, then runs
``--concurrency`` clients, each on its own keep-alive connection, asking distinct patient questions read at
run time from ``--questions`` (a JSONL file with a "question" field; never copied into the repo):

1. **saturation**: closed loop, each client asks again as soon as it has its answer, answer cache off:
   the most the server does and the latency when it is saturated (latency = clients / throughput);
2. **paced**: the same clients pause ~``--think`` s (0.5-1.5x, random) between questions, like people
   reading the answers, cache off: the latency at a realistic offered load;
3. **cache**: a new server with the answer cache on; every question is asked once per worker, then the
   clients repeat questions in a closed loop: cache-hit latency and throughput.

Each phase follows ``--warmup`` seconds of the same load. Reports requests/s, latency percentiles (client
side and the engine's own ``latency_ms``), errors, server CPU per request and the RSS of each worker
(sampled every second) as a table and as JSON (``--out``). Only loopback addresses are accepted; every
loop is bounded by time. The numbers in BENCHMARKS.md::

    python bench/load.py --questions ../shared/eval/dev/dev.jsonl --workers 2 --concurrency 20 --duration 60

``--url http://127.0.0.1:8000 [--server-pid PID]`` benchmarks a running server instead (as configured).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


# --- a minimal keep-alive HTTP/1.1 client (cheap on the CPU the server shares with it) -----------------

class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode("ascii") + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionError("server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            data = bytearray()
            while True:
                size = int((await self.reader.readline()).strip() or b"0", 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data += await self.reader.readexactly(size)
                await self.reader.readline()
            payload = bytes(data)
        else:
            payload = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, payload


@dataclass
class PhaseResult:
    name: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    abstained: int = 0
    cached: int = 0
    errors: int = 0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        srv = sorted(self.server_ms)
        return {
            "phase": self.name,
            "requests": len(lat),
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "p99_ms": pct(lat, 99),
            "max_ms": round(lat[-1], 1) if lat else None,
            "server_p50_ms": pct(srv, 50, 3), "server_p95_ms": pct(srv, 95, 3), "server_p99_ms": pct(srv, 99, 3),
            "errors": self.errors, "statuses": dict(self.statuses),
            "abstained_share": round(self.abstained / len(lat), 3) if lat else None,
            "cache_hit_share": round(self.cached / len(lat), 3) if lat else None,
        }


def pct(values: list[float], q: float, digits: int = 1) -> float | None:
    """The q-th percentile (nearest rank) of sorted values."""
    if not values:
        return None
    index = min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))
    return round(values[index], digits)


async def run_phase(name: str, host: str, port: int, questions: list[str], *, concurrency: int,
                    duration: float, shuffle_seed: int, think: float = 0.0,
                    per_connection: int = 20) -> PhaseResult:
    """``concurrency`` clients, each with one keep-alive connection, for ``duration`` seconds. With
    ``think`` > 0 a client pauses 0.5-1.5 x ``think`` seconds after each answer (a person reading it);
    with 0 it asks again at once (closed loop: measures the saturated server). A client opens a new
    connection every ``per_connection`` questions, as a stream of visitors would: the kernel hands each new
    connection to one worker, so a few long-lived connections would pin the load on one of them."""
    order = list(questions)
    random.Random(shuffle_seed).shuffle(order)
    counter = iter(range(10**9))
    result = PhaseResult(name=name, seconds=duration)
    deadline = time.perf_counter() + duration

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        conn = Connection(host, port)
        sent = 0
        if think:
            await asyncio.sleep(rng.uniform(0, think))  # clients do not start in lockstep
        try:
            while time.perf_counter() < deadline:
                q = order[next(counter) % len(order)]
                body = json.dumps({"question": q}).encode()
                if sent and sent % per_connection == 0:
                    await conn.close()
                sent += 1
                start = time.perf_counter()
                try:
                    status, payload = await conn.request("POST", "/v1/ask", body)
                except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError):
                    result.errors += 1
                    result.statuses["connection error"] += 1
                    await conn.close()
                    continue
                result.latencies_ms.append((time.perf_counter() - start) * 1000)
                result.statuses[str(status)] += 1
                if status != 200:
                    result.errors += 1
                    continue
                data = json.loads(payload)
                result.server_ms.append(float(data.get("latency_ms", 0.0)))
                result.abstained += bool(data.get("abstained"))
                result.cached += bool(data.get("cached"))
                if think:
                    await asyncio.sleep(min(think * rng.uniform(0.5, 1.5), max(0.0, deadline - time.perf_counter())))
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(shuffle_seed * 1000 + i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def ask_each_once(host: str, port: int, questions: list[str], concurrency: int) -> None:
    queue = list(questions)

    async def client() -> None:
        conn = Connection(host, port)
        try:
            while queue:
                q = queue.pop()
                with contextlib.suppress(Exception):
                    await conn.request("POST", "/v1/ask", json.dumps({"question": q}).encode())
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))


# --- server and its memory ------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(x) for x in fh.read().split()]
    return out


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class RssSampler(threading.Thread):
    """Samples the RSS of a server process tree every second (peak per process)."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.peak: dict[int, float] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        for pid in [self.root_pid, *_children(self.root_pid)]:
            self.peak[pid] = max(self.peak.get(pid, 0.0), rss_mb(pid))

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.sample()

    def report(self) -> dict[str, Any]:
        workers = {pid: mb for pid, mb in self.peak.items()
                   if pid != self.root_pid and "resource_tracker" not in cmdline(pid)}
        return {
            "supervisor_mb": round(self.peak.get(self.root_pid, 0.0), 1),
            "worker_peak_mb": [round(mb, 1) for mb in sorted(workers.values(), reverse=True)],
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


class Server:
    def __init__(self, *, workers: int, port: int, cache_size: int, database_url: str, index: str | None,
                 log_path: Path) -> None:
        env = dict(os.environ)
        env.update({
            "CLINICQA_RATE_LIMIT_PER_MINUTE": "0",
            "CLINICQA_ANSWER_CACHE_SIZE": str(cache_size),
            "CLINICQA_DATABASE_URL": database_url,
            "CLINICQA_LOG_LEVEL": "WARNING",
        })
        cmd = [sys.executable, "-m", "api.server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
        if index:
            cmd += ["--index", index]
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{port}"
        self.workers = workers

    def wait_ready(self, timeout: float = 300.0) -> dict[str, Any]:
        """Wait until every worker has loaded its index (one clinicqa_ready sample per worker)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}; see its log")
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(self.url + "/metrics", timeout=5) as resp:
                    text = resp.read().decode()
                ready = sum(1 for line in text.splitlines()
                            if line.startswith("clinicqa_ready") and line.rstrip().endswith(" 1.0"))
                if ready >= self.workers:
                    return get_json(self.url + "/readyz")[1]
            time.sleep(1.0)
        raise SystemExit("the server did not become ready in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def load_questions(path: Path) -> list[str]:
    seen: dict[str, None] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                q = str(json.loads(line).get("question", "")).strip()
                if q:
                    seen.setdefault(q, None)
    if not seen:
        raise SystemExit(f"{path}: no questions found (expected JSON lines with a 'question' field)")
    return list(seen)


def check_loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"{url}: only loopback servers may be load-tested")
    return host, parts.port or 80


def table(rows: list[dict[str, Any]]) -> str:
    cols = ["phase", "think_s", "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms",
            "server_p50_ms", "server_p95_ms", "server_cpu_ms_per_request", "errors"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--questions", type=Path, required=True, help="JSONL with a 'question' field per line")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of each load phase")
    ap.add_argument("--think", type=float, default=1.0,
                    help="mean pause of a client between questions in the 'paced' phase (0: skip that phase)")
    ap.add_argument("--cache-duration", type=float, default=20.0, help="seconds of the cache phase (0: skip)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before each phase")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--index", default=None, help="index folder for the server (default: its settings)")
    ap.add_argument("--database-url", default=None, help="question log (default: a temporary SQLite file)")
    ap.add_argument("--url", default=None, help="benchmark this running server instead of starting one")
    ap.add_argument("--server-pid", type=int, default=None, help="with --url: the server's pid, for RSS")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    if not (1 <= args.concurrency <= 200 and 0 < args.duration <= 600 and 0 <= args.cache_duration <= 600
            and 0 <= args.think <= 60):
        raise SystemExit("concurrency must be 1..200, durations at most 600 s, think at most 60 s")

    questions = load_questions(args.questions)
    print(f"{len(questions)} distinct questions from {args.questions}", file=sys.stderr)
    results: dict[str, Any] = {
        "concurrency": args.concurrency, "duration_s": args.duration, "think_s": args.think,
        "workers": args.workers, "questions": len(questions), "cpus": os.cpu_count(), "phases": [],
    }

    def measure(host: str, port: int, name: str, duration: float, think: float, root_pid: int | None) -> None:
        if args.warmup:
            asyncio.run(run_phase("warmup", host, port, questions, concurrency=args.concurrency,
                                  duration=args.warmup, shuffle_seed=1, think=think))
        sampler = RssSampler(root_pid) if root_pid else None
        pids = [root_pid, *_children(root_pid)] if root_pid else []
        if sampler is not None:
            sampler.sample()
            sampler.start()
        cpu_before = {p: cpu_seconds(p) for p in pids}
        own_cpu = time.process_time()
        phase = asyncio.run(run_phase(name, host, port, questions, concurrency=args.concurrency,
                                      duration=duration, shuffle_seed=2, think=think))
        summary = phase.summary()
        summary["think_s"] = think
        requests = max(1, summary["requests"])
        summary["client_cpu_ms_per_request"] = round((time.process_time() - own_cpu) * 1000 / requests, 2)
        if pids:
            used = {p: cpu_seconds(p) - before for p, before in cpu_before.items()}
            summary["server_cpu_ms_per_request"] = round(sum(used.values()) * 1000 / requests, 2)
            summary["server_cpu_share_by_process"] = [
                round(u / phase.seconds, 2) for u in sorted(used.values(), reverse=True) if u > 0.01]
        if sampler is not None:
            sampler.stop.set()
            sampler.sample()
            summary["rss"] = sampler.report()
        results["phases"].append(summary)
        print(json.dumps(summary), file=sys.stderr)

    if args.url:
        host, port = check_loopback(args.url)
        measure(host, port, "load", args.duration, 0.0, args.server_pid)
        if args.think:
            measure(host, port, "paced", args.duration, args.think, args.server_pid)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="clinicqa-bench-"))
        db = args.database_url or f"sqlite:///{tmp / 'log.sqlite3'}"
        log_path = tmp / "server.log"
        print(f"server log: {log_path}", file=sys.stderr)
        # (answer cache size, [(phase, seconds, think)]): distinct questions run with the cache off,
        # so that every request runs the engine; then a server with the cache on, for repeated ones.
        servers: list[tuple[int, list[tuple[str, float, float]]]] = [
            (0, [("saturation", args.duration, 0.0)]
                + ([("paced", args.duration, args.think)] if args.think else [])),
        ]
        if args.cache_duration:
            servers.append((4096, [("cache", args.cache_duration, 0.0)]))
        for cache_size, phases in servers:
            port = free_port()
            server = Server(workers=args.workers, port=port, cache_size=cache_size, database_url=db,
                            index=args.index, log_path=log_path)
            try:
                ready = server.wait_ready()
                results["index_version"] = ready.get("index_version")
                idle = RssSampler(server.proc.pid)
                idle.sample()
                results.setdefault("idle_rss", idle.report())
                if cache_size:
                    for _ in range(2 * args.workers):  # each worker has its own cache
                        asyncio.run(ask_each_once("127.0.0.1", port, questions, args.concurrency))
                for name, duration, think in phases:
                    measure("127.0.0.1", port, name, duration, think, server.proc.pid)
                _, ready = get_json(server.url + "/readyz")
                results.setdefault("question_log", []).append(ready.get("question_log"))
            finally:
                server.stop()

    print(table(results["phases"]))
    for phase in results["phases"]:
        if "rss" in phase:
            print(f"{phase['phase']}: RSS supervisor {phase['rss']['supervisor_mb']} MB, "
                  f"workers (peak) {phase['rss']['worker_peak_mb']} MB")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    errors = sum(p["errors"] for p in results["phases"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
