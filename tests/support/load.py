"""Bounded HTTP load against 127.0.0.1 only: a fixed rate, a cap on requests and on time.

Connections are kept alive like a browser's. When a reused connection turns out to have been
closed by the server before any byte of the answer (nginx closes idle keep-alive connections
when it reloads), the GET is sent once more on a new connection, as RFC 7230 section 6.3.1 allows
for idempotent requests and as browsers and urllib3 do. Such retries are counted in ``retried``;
anything else that gets no answer, or a 5xx answer, counts as failed.

With ``key_header``, every request carries that header with a value of its own (client-1,
client-2, ...), so that a canary split on it sees many different clients.

Records, for every request, when it was sent, its status (None for a transport failure) and the
version that answered (as nginx's X-Served-By header says, "<colour>/<version>"), so that tests and
benchmarks can count failures and see which version answered.

With ``method="POST"`` and ``body`` every request is that POST; with ``retry=False`` nothing is
ever sent twice (a client that does not retry, which any failure reaches).

With ``host_header`` the requests carry that Host (a named nginx server); an https URL is served
with TLS, checked against ``ca_file`` and ``host_header`` when given.
"""
import http.client
import ssl
import threading
import time
import urllib.parse


def served_version(resp):
    """The version nginx says served a response (X-Served-By: <colour>/<version>)."""
    served = resp.getheader("X-Served-By") or ""
    return served.split("/", 1)[1] if "/" in served else None


class _TLSConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the certificate checked against the server name the client asks for."""

    def __init__(self, host, port, timeout, context, server_name):
        super().__init__(host, port, timeout=timeout, context=context)
        self.server_name = server_name

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name or self.host)


class Load(object):
    def __init__(self, url, rate_per_s=150, max_requests=100000, max_seconds=600, workers=8, timeout=5.0,
                 key_header=None, host_header=None, ca_file=None, method="GET", body=None, retry=True):
        parsed = urllib.parse.urlparse(url)
        if parsed.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("load goes to loopback only, not %r" % parsed.hostname)
        self.tls = parsed.scheme == "https"
        self.host, self.port, self.path = parsed.hostname, parsed.port or (443 if self.tls else 80), parsed.path or "/"
        self.host_header, self.ca_file = host_header, ca_file
        self.interval = workers / float(rate_per_s)
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.workers, self.timeout = workers, timeout
        self.key_header = key_header
        self.method, self.body, self.retry = method, body, retry
        self._sent = 0
        self.records = []
        self.retried = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []

    def connect(self):
        if not self.tls:
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        context = ssl.create_default_context(cafile=self.ca_file)
        return _TLSConnection(self.host, self.port, self.timeout, context, self.host_header)

    def _worker(self, started):
        conn = None
        next_at = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - started < self.max_seconds:
            with self._lock:
                if len(self.records) >= self.max_requests:
                    return
            sent = time.time()
            headers = {"Host": self.host_header} if self.host_header else {}
            if self.body is not None:
                headers["Content-Type"] = "application/json"
            if self.key_header:
                with self._lock:
                    self._sent += 1
                    headers[self.key_header] = "client-%d" % self._sent
            status, version, error, retried = None, None, None, False
            for attempt in (1, 2):
                reused = conn is not None
                try:
                    if conn is None:
                        conn = self.connect()
                    conn.request(self.method, self.path, body=self.body, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status, version, error = resp.status, served_version(resp), None
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as exc:
                    error = "%s: %s" % (exc.__class__.__name__, exc)
                    if conn is not None:
                        conn.close()
                    conn = None
                    stale = isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError))
                    if not (self.retry and reused and stale and attempt == 1):
                        break
                    retried = True
            with self._lock:
                self.records.append((sent, status, version, error))
                self.retried += int(retried)
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_at = time.monotonic()

    def start(self):
        started = time.monotonic()
        for _worker_index in range(self.workers):
            thread = threading.Thread(target=self._worker, args=(started,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 1)
        return self.summary()

    def wait_for_requests(self, count):
        """Block until ``count`` requests were made or the load ended by its own limits."""
        while len(self.snapshot()) < count and any(t.is_alive() for t in self._threads):
            self._stop.wait(0.5)

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def summary(self):
        records = self.snapshot()
        failed = [r for r in records if r[1] is None or r[1] >= 500]
        span = (records[-1][0] - records[0][0]) if len(records) > 1 else 0.0
        return {
            "requests": len(records),
            "failed": len(failed),
            "retried": self.retried,
            "failures": sorted(set("%s" % (r[3] or r[1]) for r in failed))[:5],
            "seconds": round(span, 2),
            "rate_per_s": round(len(records) / span, 1) if span else 0.0,
            "versions": sorted(set(r[2] for r in records if r[2])),
        }


def versions_by_key(url, keys, header="X-Client-Id", workers=8, timeout=5.0):
    """GET url once per key (sent in ``header``) and return {key: version that answered}.

    A bounded burst: len(keys) requests, as fast as ``workers`` keep-alive connections go."""
    parsed = urllib.parse.urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ValueError("load goes to loopback only, not %r" % parsed.hostname)
    answers, lock, queue = {}, threading.Lock(), list(keys)

    def worker():
        conn = None
        while True:
            with lock:
                if not queue:
                    break
                key = queue.pop()
            for _attempt in (1, 2):
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=timeout)
                    conn.request("GET", parsed.path or "/", headers={header: key})
                    resp = conn.getresponse()
                    resp.read()
                    with lock:
                        answers[key] = served_version(resp)
                    break
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _index in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout * len(keys))
    return answers
