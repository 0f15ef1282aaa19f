"""Run the reference service image in a real container, published on 127.0.0.1 only."""
import json
import subprocess
import time
import urllib.error
import urllib.request


class ServiceContainer(object):
    def __init__(self, version="1.0.0", env=None, name_prefix="nr-test-agent"):
        self.image = "agent-loop:%s" % version
        self.env = env or {}
        self.name = "%s-%d" % (name_prefix, int(time.monotonic() * 1000))
        self.port = None

    def start(self):
        args = ["docker", "run", "-d", "--name", self.name, "-p", "127.0.0.1::8000"]
        for key, value in self.env.items():
            args += ["-e", "%s=%s" % (key, value)]
        subprocess.run(args + [self.image], check=True, capture_output=True)
        # A container that exits at once (the crash-at-start fault) has no published port left to read.
        mapping = subprocess.run(["docker", "port", self.name, "8000/tcp"], check=False, capture_output=True, text=True)
        if mapping.returncode == 0 and mapping.stdout.split():
            self.port = int(mapping.stdout.split()[0].rsplit(":", 1)[1])
        return self

    def url(self, path):
        if self.port is None:
            raise AssertionError("container %s published no port: it is not running (state %r)" % (self.name, self.state()))
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def state(self):
        out = subprocess.run(["docker", "inspect", "-f", "{{json .State}}", self.name], capture_output=True, text=True, check=False)
        return json.loads(out.stdout)

    def logs(self, stream="stdout"):
        """What the container printed on ``stream`` (stdout or stderr)."""
        result = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True, check=False)
        return getattr(result, stream)

    def remove(self):
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=False)


def request(url, method="GET", body=None, timeout=5.0):
    """Return (status, headers, body bytes, seconds); HTTP errors are answers, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read(), time.monotonic() - started


def wait_for(url, status=200, deadline_s=20.0):
    end = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < end:
        try:
            last = request(url, timeout=2)[0]
            if last == status:
                return True
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError("%s did not answer %d within %.0f s (last: %r)" % (url, status, deadline_s, last))
