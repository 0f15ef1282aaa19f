"""Counter service: GET /hit/<name> adds one to <name> in redis and returns the count, GET
/count/<name> reads it, GET /healthz answers 200 when redis answers, GET / redirects to /about (as
many web apps send / to a landing or login page; it says which schema, made by migrate.py, was there
when the process started), any other path is 404. Listens on $PORT (9000)."""
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

VERSION = os.environ.get("COUNTER_VERSION", "0.0.0-dev")
STORE = redis.Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379, socket_timeout=2)
try:
    SCHEMA_AT_START = (STORE.get("schema") or b"").decode() or None
except redis.RedisError:
    SCHEMA_AT_START = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, on a keep-alive connection (nginx's
    # upstream keepalive) the body waits for the ACK of the headers, which Linux delays by 40 ms.
    disable_nagle_algorithm = True

    def answer(self, status, doc, location=None):
        body = (json.dumps(doc) + "\n").encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        try:
            if self.path == "/healthz":
                STORE.ping()
                return self.answer(200, {"status": "ok", "version": VERSION})
            if self.path.startswith("/hit/"):
                return self.answer(200, {"count": STORE.incr("count:" + self.path[5:]), "version": VERSION})
            if self.path.startswith("/count/"):
                return self.answer(200, {"count": int(STORE.get("count:" + self.path[7:]) or 0), "version": VERSION})
            if self.path == "/":
                return self.answer(302, {"see": "/about"}, location="/about")
            if self.path == "/about":
                return self.answer(200, {"service": "counter", "version": VERSION, "schema_at_start": SCHEMA_AT_START})
            return self.answer(404, {"error": "no such page: " + self.path})
        except redis.RedisError as exc:
            return self.answer(503, {"error": str(exc)})

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "9000"))), Handler).serve_forever()
