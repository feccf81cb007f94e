"""Leases: one holder per board across processes, dead holders taken over, workers spread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from nodemcu_hil.errors import PortBusy
from nodemcu_hil.lease import BoardLease

pytest_plugins = ["pytester"]

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from nodemcu_hil.lease import BoardLease
    lease = BoardLease("5ccf7f000001", Path(sys.argv[1]), board="nodemcu-1", port="/dev/ttyUSB0")
    lease.acquire(timeout=5)
    print("HELD", flush=True)
    sys.stdin.read()
""")


@pytest.fixture
def holder(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "--marker-arg"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                               cwd=os.getcwd())
    assert process.stdout.readline().strip() == "HELD"
    yield process
    process.kill()
    process.wait()


def lease(tmp_path) -> BoardLease:
    return BoardLease("5ccf7f000001", tmp_path, board="nodemcu-1", port="/dev/ttyUSB0")


def test_second_process_waits_then_gets_port_busy_naming_the_holder(tmp_path, holder):
    with pytest.raises(PortBusy) as error:
        lease(tmp_path).acquire(timeout=0.3)
    message = str(error.value)
    assert f"pid {holder.pid}" in message and "--marker-arg" in message
    assert "nodemcu-1" in message and "/dev/ttyUSB0" in message


def test_lease_of_a_sigkilled_holder_is_taken_over(tmp_path, holder):
    assert not lease(tmp_path).try_acquire()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    mine = lease(tmp_path).acquire(timeout=2)
    assert mine.held and mine.read_holder().pid == os.getpid()
    mine.release()


def test_released_lease_is_free_again(tmp_path):
    first = lease(tmp_path).acquire(timeout=1)
    first.release()
    with lease(tmp_path).acquire(timeout=1) as second:
        assert second.held


def _boards_project(pytester, count: int) -> None:
    boards = "".join(f'[[board]]\nname = "b{i}"\nport = "/dev/ttyFAKE{i}"\nmac = "5c:cf:7f:00:00:0{i}"\n\n'
                     for i in range(count))
    pytester.makefile(".toml", boards=boards)
    pytester.makeini(f"[pytest]\nhil_lease_dir = {pytester.path / 'leases'}\nhil_lease_timeout = 5\n")
    pytester.makepyfile(test_workers="""
        import os, pathlib
        def test_board(hil_leased_board):
            pathlib.Path(os.environ.get("PYTEST_XDIST_WORKER", "solo") + ".board").write_text(hil_leased_board.name)
    """)


def test_xdist_workers_get_distinct_boards(pytester):
    _boards_project(pytester, 2)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # One test ran on one worker; run the same test on both workers at once.
    pytester.makepyfile(test_workers="""
        import os, pathlib, pytest
        @pytest.mark.parametrize("n", range(4))
        def test_board(hil_leased_board, n):
            pathlib.Path(os.environ["PYTEST_XDIST_WORKER"] + ".board").write_text(hil_leased_board.name)
    """)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assigned = {p.stem: p.read_text() for p in pytester.path.glob("gw*.board")}
    assert assigned == {"gw0": "b0", "gw1": "b1"}


def test_more_workers_than_boards_fails_at_start_up(pytester):
    _boards_project(pytester, 2)
    result = pytester.runpytest_subprocess("-n", "3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*3 xdist workers but only 2 boards (b0, b1)*run with -n 2*"])


def test_a_board_named_by_port_and_by_name_is_one_lease(tmp_path):
    """`hil flash --port URL` and a run with `--board NAME` (same port, MAC known) exclude each other."""
    from nodemcu_hil.inventory import BoardRecord
    from nodemcu_hil.lease import lease_for

    by_name = BoardRecord(name="nodemcu-a", port="rfc2217://rig:4000", mac="5c:cf:7f:00:00:01")
    by_port = BoardRecord(name="rig:4000", port="rfc2217://rig:4000")
    with lease_for(by_name, tmp_path).acquire(timeout=1):
        contender = lease_for(by_port, tmp_path)
        assert not contender.try_acquire(0.1)
        assert f"pid {os.getpid()}" in contender.read_holder().describe()
    with lease_for(by_port, tmp_path).acquire(timeout=1):
        assert not lease_for(by_name, tmp_path).try_acquire(0.1)


def test_a_link_and_the_device_it_names_are_one_port(tmp_path):
    from nodemcu_hil.inventory import BoardRecord
    from nodemcu_hil.lease import lease_for

    device = tmp_path / "ttyUSB0"
    device.write_text("")
    link = tmp_path / "usb-1a86_USB2.0-Serial-if00-port0"
    link.symlink_to(device)
    with lease_for(BoardRecord(name="a", port=str(link)), tmp_path / "leases").acquire(timeout=1):
        assert not lease_for(BoardRecord(name="b", port=str(device)), tmp_path / "leases").try_acquire(0.1)
