import json
import multiprocessing

from ansible_collections.nextgen.rollout.plugins.module_utils._claims import claim, read_claims


def test_a_service_gets_the_first_free_pair_and_keeps_it(tmp_path):
    state = str(tmp_path)
    assert claim(state, "a", {}, [[80, ""]])["ports"] == {"blue": 8001, "green": 8002}
    assert claim(state, "b", {}, [[80, "b.example"]])["ports"] == {"blue": 8003, "green": 8004}
    again = claim(state, "a", {}, [[80, ""]])
    assert again["ports"] == {"blue": 8001, "green": 8002} and again["changed"] is False
    assert json.loads((tmp_path / "a" / "claims.json").read_text()) == {"ports": {"blue": 8001, "green": 8002},
                                                                        "sites": [[80, ""]]}
    assert oct((tmp_path / "a" / "claims.json").stat().st_mode & 0o777) == "0o600"


def test_a_new_pair_skips_the_ports_a_process_listens_on_and_a_claim_keeps_its_ports(tmp_path):
    state = str(tmp_path)
    assert claim(state, "a", {}, [[80, ""]], listening=lambda: [8001, 8003, 22])["ports"] == {"blue": 8002, "green": 8004}
    assert claim(state, "a", {}, [[80, ""]], listening=lambda: [8002, 8004])["ports"] == {"blue": 8002, "green": 8004}


def test_declared_ports_of_another_service_are_refused_and_nothing_is_written(tmp_path):
    state = str(tmp_path)
    claim(state, "a", {"blue": 9001, "green": 9002}, [[80, ""]])
    outcome = claim(state, "b", {"blue": 9002, "green": 9003}, [[80, "b.example"]])
    assert outcome["problems"] == ["rollout_ports.blue = 9002 is already taken by the green colour of service a on "
                                   "this host: pick another port, or leave rollout_ports unset to get a free pair"]
    assert not (tmp_path / "b").exists() and set(read_claims(state)) == {"a"}


def test_two_services_on_one_site_are_refused(tmp_path):
    state = str(tmp_path)
    claim(state, "a", {}, [[80, ""]])
    outcome = claim(state, "b", {}, [[80, ""]])
    assert outcome["problems"] == ["nginx already serves service a on port 80 with server_name '' (the default server): "
                                   "give this service its own rollout_server_name or rollout_listen_port"]
    assert claim(state, "b", {}, [[80, "b.example"]])["problems"] == []


def test_a_colour_port_cannot_be_an_nginx_port(tmp_path):
    state = str(tmp_path)
    claim(state, "a", {}, [[8080, ""]])
    assert "already taken by nginx (service a)" in claim(state, "b", {"blue": 8080, "green": 9000}, [[80, "b"]])["problems"][0]
    assert "the port nginx serves the service on" in claim(state, "c", {"blue": 81, "green": 9100}, [[81, "c"]])["problems"][0]


def test_check_only_writes_nothing(tmp_path):
    assert claim(str(tmp_path), "a", {}, [[80, ""]], write=False)["changed"] is True
    assert read_claims(str(tmp_path)) == {}


def _claim_one(args):
    state, name = args
    return claim(state, name, {}, [[80, name]])["ports"]


def test_concurrent_services_never_share_ports(tmp_path):
    names = ["s%d" % i for i in range(8)]
    with multiprocessing.Pool(8) as pool:
        ports = pool.map(_claim_one, [(str(tmp_path), name) for name in names])
    taken = [p for pair in ports for p in pair.values()]
    assert len(taken) == len(set(taken)) == 16


def test_a_rollback_of_a_service_the_host_never_ran_says_so_beside_the_collision(tmp_path):
    state = str(tmp_path)
    claim(state, "notes", {}, [[80, ""]])
    problems = claim(state, "notse", {}, [[80, ""]], write=False, deploying=False)["problems"]
    assert problems[0].startswith("nginx already serves service notes on port 80")
    assert problems[1] == ("service notse was never deployed on this host (the services it runs: notes): check rollout_service, "
                           "or deploy it first")
    # A first deploy (in check mode too) only collides.
    assert len(claim(state, "notse", {}, [[80, ""]], write=False)["problems"]) == 1
