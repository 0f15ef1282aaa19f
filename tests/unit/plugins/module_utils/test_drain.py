from ansible_collections.nextgen.rollout.plugins.module_utils._drain import open_connections, wait_drained

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def proc_net(tmp_path, tcp_lines, tcp6_lines=()):
    (tmp_path / "tcp").write_text(HEADER + "".join(tcp_lines))
    (tmp_path / "tcp6").write_text(HEADER + "".join(tcp6_lines))
    return str(tmp_path)


def line(local, remote, state):
    return "   0: %s %s %s 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n" % (local, remote, state)


def test_only_established_connections_to_the_port_on_loopback_count(tmp_path):
    to_8001 = "0100007F:1F41"
    path = proc_net(tmp_path, [
        line("0100007F:C350", to_8001, "01"),          # nginx -> colour: counts
        line("0100007F:C351", to_8001, "06"),          # TIME_WAIT: closed
        line("0100007F:1F41", "0100007F:C350", "01"),  # the colour's own side: remote is nginx
        line("0100007F:C352", "0100007F:1F42", "01"),  # another port
        line("0A000002:C353", "0A000003:1F41", "01"),  # not loopback
    ], [line("00000000000000000000000001000000:C354", "00000000000000000000000001000000:1F41", "01")])
    assert open_connections(8001, path) == 2
    assert open_connections(8002, path) == 1


def test_wait_returns_as_soon_as_nothing_is_open():
    now = [0.0]
    left = {8001: [2, 1, 0]}

    def count(port):
        return left[port].pop(0) if len(left[port]) > 1 else left[port][0]

    def sleep(seconds):
        now[0] += seconds

    outcome = wait_drained([8001], 30, count=count, clock=lambda: now[0], sleep=sleep)
    assert outcome == {"drained": True, "waited_s": 0.2, "open": {}}


def test_wait_gives_up_at_the_timeout_and_says_what_is_left():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    outcome = wait_drained([8001], 1, count=lambda port: 3, clock=lambda: now[0], sleep=sleep)
    assert not outcome["drained"] and outcome["open"] == {8001: 3} and outcome["waited_s"] >= 1
