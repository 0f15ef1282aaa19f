import os

from ansible_collections.nextgen.rollout.plugins.module_utils._drain import open_connections, socket_inodes, wait_drained

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def proc_net(tmp_path, tcp_lines, tcp6_lines=()):
    (tmp_path / "tcp").write_text(HEADER + "".join(tcp_lines))
    (tmp_path / "tcp6").write_text(HEADER + "".join(tcp6_lines))
    return str(tmp_path)


def line(local, remote, state, inode=1):
    return "   0: %s %s %s 00000000:00000000 00:00000000 00000000     0        0 %d 1 0 100 0 0 10 0\n" % (
        local, remote, state, inode)


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


def fake_proc(tmp_path, processes):
    """A /proc with one directory per (pid, comm, socket inodes) and a non-socket descriptor each."""
    root = tmp_path / "proc"
    for pid, comm, inodes in processes:
        fd_dir = root / str(pid) / "fd"
        fd_dir.mkdir(parents=True)
        (root / str(pid) / "comm").write_text(comm + "\n")
        os.symlink("/dev/null", str(fd_dir / "0"))
        for index, inode in enumerate(inodes, start=3):
            os.symlink("socket:[%d]" % inode, str(fd_dir / str(index)))
    (root / "self").mkdir(exist_ok=True)
    return str(root)


def test_only_the_proxys_connections_count_not_a_scrapers_keep_alive(tmp_path):
    to_8001 = "0100007F:1F41"
    path = proc_net(tmp_path, [
        line("0100007F:C350", to_8001, "01", inode=501),  # nginx worker -> colour
        line("0100007F:C351", to_8001, "01", inode=777),  # prometheus -> colour, kept alive between scrapes
    ])
    proc = fake_proc(tmp_path, [(10, "nginx", [500]), (11, "nginx", [501, 502]), (40, "prometheus", [777])])
    nginx = socket_inodes(["nginx"], proc)
    assert nginx == {"500", "501", "502"}
    assert open_connections(8001, path, inodes=nginx) == 1
    assert open_connections(8001, path) == 2
    # Once nginx closed its idle connection, the colour counts as drained though the scraper's stays.
    path = proc_net(tmp_path, [line("0100007F:C351", to_8001, "01", inode=777)])
    assert open_connections(8001, path, inodes=nginx) == 0


def test_without_the_proxy_running_every_connection_counts(tmp_path):
    proc = fake_proc(tmp_path, [(40, "prometheus", [777])])
    assert socket_inodes(["nginx"], proc) is None
