"""Virtual boards for self-tests: each a real `hil sim` process, stopped after the test."""

from __future__ import annotations

import pytest

from nodemcu_hil.sim import start_board


class BoardStarter:
    """Starts boards in `directory`, each with its own state dir and log; stops them all."""

    def __init__(self, directory):
        self.directory = directory
        self.boards = []

    def __call__(self, **settings):
        index = len(self.boards)
        name = settings.setdefault("name", f"board{index}")
        settings.setdefault("state_dir", self.directory / name)
        board = start_board(log=self.directory / f"{name}.log", **settings)
        self.boards.append(board)
        return board

    def stop_all(self) -> None:
        for board in self.boards:
            board.stop()
        self.boards.clear()


@pytest.fixture
def start_virtual_board(tmp_path):
    """`start_virtual_board(**settings)` -> BoardProcess (settings of `hil sim`)."""
    starter = BoardStarter(tmp_path)
    yield starter
    starter.stop_all()


@pytest.fixture(scope="module")
def module_board_starter(tmp_path_factory):
    """The same, shared by a test module (boards live until the module ends)."""
    starter = BoardStarter(tmp_path_factory.mktemp("boards"))
    yield starter
    starter.stop_all()


@pytest.fixture
def served_world():
    """A virtual world behind its control server (no board): yields (world, control address)."""
    from nodemcu_hil.sim.control import ControlServer
    from nodemcu_hil.sim.world import World

    world = World(join_delay_s=0.2)
    server = ControlServer()
    world.register_control(server)
    world.start()
    server.start()
    yield world, server.address
    server.close()
    world.close()


@pytest.fixture(scope="module")
def relay():
    """A network relay for a module's labgrid places (labgrid's `rest` power backend)."""
    from tests.labgrid_rig import PowerRelay

    relay = PowerRelay()
    yield relay
    relay.stop()
