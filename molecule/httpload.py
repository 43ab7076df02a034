"""A bounded HTTP(S) load on one site, for the benchmarks and the release
tests: a few client threads send requests back to back until told to stop,
and every request's outcome and latency is recorded.

    with Load("https://superlists-staging.localhost:18443/", connect_to=("127.0.0.1", 18443)) as load:
        ...                     # deploy, switch, restart
    print(load.summary())       # requests, failed, median and p99 latency

A request fails when it raises (refused, reset, timed out) or its status is
not the expected one. Connections are not reused, so each request also
crosses the listening sockets of nginx and gunicorn as a new visitor would.
"""

import http.client
import socket
import ssl
import statistics
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Outcome:
    started: float
    seconds: float
    status: int  # 0: no response
    error: str = ""


@dataclass
class Load:
    url: str
    connect_to: tuple = None  # (address, port) to connect to instead of the URL's host
    concurrency: int = 4
    expect_status: int = 200
    timeout: float = 10.0
    outcomes: list = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = []
        parts = urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._path = parts.path or "/"
        self._context = ssl.create_default_context()
        # The test sites use self-signed certificates: load, not trust, is measured.
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE

    def _connect(self):
        address = self.connect_to or (self._host, self._port)
        sock = socket.create_connection(address, timeout=self.timeout)
        if self._https:
            sock = self._context.wrap_socket(sock, server_hostname=self._host)
        return sock

    def _one_request(self):
        started = time.monotonic()
        status, error = 0, ""
        try:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            conn.sock = self._connect()
            conn.request("GET", self._path, headers={"Host": f"{self._host}:{self._port}"})
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
            if status != self.expect_status:
                error = f"status {status}"
        except (OSError, http.client.HTTPException) as exc:
            error = type(exc).__name__
        return Outcome(started, time.monotonic() - started, status, error)

    def _worker(self):
        while not self._stop.is_set():
            outcome = self._one_request()
            with self._lock:
                self.outcomes.append(outcome)

    def start(self):
        for _ in range(self.concurrency):
            thread = threading.Thread(target=self._worker, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def failures(self, since=None, until=None):
        return [o for o in self.window(since, until) if o.error]

    def window(self, since=None, until=None):
        return [o for o in self.outcomes
                if (since is None or o.started >= since) and (until is None or o.started <= until)]

    def summary(self, since=None, until=None):
        outcomes = self.window(since, until)
        latencies = sorted(o.seconds for o in outcomes)
        failed = [o for o in outcomes if o.error]
        return {
            "requests": len(outcomes),
            "failed": len(failed),
            "errors": sorted({o.error for o in failed}),
            "median_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
            "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        }


def percentile(sorted_values, pct):
    """The nearest-rank percentile of an already sorted list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]
