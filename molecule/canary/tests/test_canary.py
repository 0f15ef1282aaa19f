"""The canary of 1.1.0 was analysed, promoted by the blue-green switch, and 1.0.0 stays warm."""
import json


def ledger(host):
    return json.loads(host.check_output("cat /var/lib/nextgen-rollout/agent-loop/ledger.json"))


def test_the_steps_and_the_promotion_are_in_the_ledger(host):
    doc = ledger(host)
    steps = [e for e in doc["history"] if e["action"] == "canary-step"]
    assert [(s["share"], s["result"]) for s in steps] == [(10, "promote"), (100, "promote")]
    assert steps[0]["details"]["figures"]["stable"]["requests"] >= 0
    assert doc["history"][-1]["action"] == "canary" and doc["history"][-1]["result"] == "succeeded"
    assert doc["history"][-1]["details"]["guard"]["passed"] is True  # the promotion was guarded for 4 s
    assert doc["live"]["version"] == "1.1.0" and doc["canary"] is None


def test_nginx_sends_everything_to_the_new_version_without_a_split(host):
    route = json.loads(host.file("/etc/nginx/nextgen-rollout/routes/agent-loop.json").content_string)
    assert (route["live"], route["canary"], route["share"]) == ("green", None, 0)
    for _attempt in range(5):
        assert "X-App-Version: 1.1.0" in host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1/")


def test_the_old_version_stays_warm(host):
    assert host.check_output("curl -fsS -D- -o /dev/null http://127.0.0.1:8001/health").count("1.0.0") == 1
