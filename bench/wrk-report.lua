-- wrk script for bench/benchlib.py's measure_load.
--
-- Connects to WRK_CONNECT_TO (default 127.0.0.1) whatever the URL's host
-- resolves to, so the URL can carry the site's domain: wrk sends it as the
-- Host header and as the TLS server name, as a browser would.
-- At the end, prints one line "WRK-RESULT {json}" with the counts and the
-- latency percentiles (microseconds).

local connect_to = os.getenv("WRK_CONNECT_TO") or "127.0.0.1"

function wrk.resolve(host, service)
  wrk.addrs = wrk.lookup(connect_to, service)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "errors": '
      .. '{"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
