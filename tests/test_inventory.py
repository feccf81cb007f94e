"""boards.toml: every mistake is an error naming the file and the line."""

from __future__ import annotations

import textwrap

import pytest

from nodemcu_hil.errors import ConfigError, InventoryError
from nodemcu_hil.inventory import effective_mode, load_inventory, select_boards

GOOD = """
[[board]]
name = "nodemcu-1"
port = "/dev/serial/by-id/usb-Silicon_Labs_CP2102-if00-port0"
mac = "5C:CF:7F:12:34:56"
flash_size = "4MB"
tags = ["rig-a", "v1.0"]
gpio_probe = { port = "rfc2217://rig-a.local:4001", pins = { "4" = "12", "5" = "13" } }

[[board]]
name = "nodemcu-2"
port = "rfc2217://rig-b.local:4000"
"""


def write(tmp_path, text):
    path = tmp_path / "boards.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_inventory_parses(tmp_path):
    first, second = load_inventory(write(tmp_path, GOOD))
    assert first.mac == "5c:cf:7f:12:34:56" and first.flash_size == 4 << 20
    assert first.gpio_probe.pins == {4: 12, 5: 13}
    assert first.lease_key == "5ccf7f123456"
    assert second.port == "rfc2217://rig-b.local:4000" and second.mac is None
    assert second.lease_key == "rfc2217___rig-b.local_4000"


@pytest.mark.parametrize("extra, line, message", [
    ('colour = "blue"\n', 4, "unknown key 'colour'"),
    ('mac = "5c:cf:7f:12:34"\n', 4, "malformed MAC"),
    ('mac = "zz:cf:7f:12:34:56"\n', 4, "malformed MAC"),
    ('flash_size = "3MB"\n', 4, "flash size '3MB'"),
    ('tags = "rig-a"\n', 4, "tags must be a list"),
    ('gpio_probe = { port = "/dev/ttyUSB9", pins = { "7" = "12" } }\n', 4, "not an ESP8266 GPIO"),
    # pins given as a list raised a TypeError in `hil boards` and pytest (issue 11, defect 9)
    ('gpio_probe = { port = "/dev/ttyUSB9", pins = [4, 12] }\n', 4, 'pins = { "4" = "12" }'),
    ('gpio_probe = { port = "/dev/ttyUSB9", pins = { "D4" = "12" } }\n', 4, 'pins = { "4" = "12" }'),
    ('gpio_probe = { port = "/dev/ttyUSB9", pins = { "4" = true } }\n', 4, 'pins = { "4" = "12" }'),
    ('gpio_probe = { pins = { "4" = "12" } }\n', 4, "needs a 'port'"),
    ('[board.gpio_probe]\nport = "/dev/ttyUSB9"\npins = [[4, 12]]\n', 6, 'pins = { "4" = "12" }'),
    # the power switch's command templates (issue 16)
    ('power = "uhubctl -a cycle"\n', 4, "power must be a table"),
    ('power = { on = "x on" }\n', 4, "power needs an 'off' command"),
    ('power = { on = "x on", off = "x off", reboot = "x" }\n', 4, "unknown action 'reboot'"),
    ('power = { on = "x on", off = "x {serial} off" }\n', 4, "unknown placeholder {serial}"),
    ('power = { on = "x on", off = "x {0} off" }\n', 4, "unknown placeholder {0}"),
    ('power = { on = "x on", off = "x {mac} off" }\n', 4, "uses {mac} but the board has no 'mac'"),
    ('power = { on = "x \'on", off = "x off" }\n', 4, "No closing quotation"),
    ('power = { on = "   ", off = "x off" }\n', 4, "power on command is empty"),
    ('power = { on = ["uhubctl", "-a", "on"], off = "x off" }\n', 4, "must be a command string"),
    ('\n[board.power]\non = "x on"\noff = "x off"\ncycle = 3\n', 8, "power cycle must be a command string"),
    ('\n[board.power]\non = "x on"\nof = "x off"\n', 7, "unknown action 'of'"),
    ('\n[board.power]\non = "x on"\n', 5, "power needs an 'off' command"),
])
def test_bad_board_entries_name_file_and_line(tmp_path, extra, line, message):
    path = write(tmp_path, '[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\n' + extra)
    with pytest.raises(InventoryError) as error:
        load_inventory(path)
    assert f"{path}:{line}:" in str(error.value) and message in str(error.value)


def test_duplicate_name_and_port_point_at_the_second_board(tmp_path):
    path = write(tmp_path, '[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\n\n'
                           '[[board]]\nname = "a"\nport = "/dev/ttyUSB1"\n')
    with pytest.raises(InventoryError, match=r"boards.toml:6: duplicate name 'a' \(first at line 2\)"):
        load_inventory(path)
    path = write(tmp_path, '[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\n\n'
                           '[[board]]\nname = "b"\nport = "/dev/ttyUSB0"\n')
    with pytest.raises(InventoryError, match=r"boards.toml:7: duplicate port '/dev/ttyUSB0'"):
        load_inventory(path)


def test_malformed_port_and_missing_name(tmp_path):
    with pytest.raises(InventoryError, match=r":3: port 'ttyUSB0'"):
        load_inventory(write(tmp_path, '[[board]]\nname = "a"\nport = "ttyUSB0"\n'))
    with pytest.raises(InventoryError, match=r":1: board needs a non-empty 'name'"):
        load_inventory(write(tmp_path, '[[board]]\nport = "/dev/ttyUSB0"\n'))


def test_toml_syntax_error_names_the_line(tmp_path):
    with pytest.raises(InventoryError, match=r"not valid TOML.*line 3"):
        load_inventory(write(tmp_path, '[[board]]\nname = "a"\nport = /dev/ttyUSB0\n'))


def test_no_boards_file_means_sim_mode(tmp_path):
    assert effective_mode("auto", tmp_path / "boards.toml") == "sim"
    assert effective_mode("auto", write(tmp_path, GOOD)) == "hardware"
    with pytest.raises(ConfigError, match="mode is hardware but the boards file"):
        effective_mode("hardware", tmp_path / "other.toml")


def test_select_by_name_or_tag(tmp_path):
    boards = load_inventory(write(tmp_path, GOOD))
    assert [b.name for b in select_boards(boards, ["rig-a"])] == ["nodemcu-1"]
    assert [b.name for b in select_boards(boards, ["nodemcu-2"])] == ["nodemcu-2"]
    with pytest.raises(ConfigError, match="no board has the name or tag 'rig-z'"):
        select_boards(boards, ["rig-z"])


@pytest.mark.parametrize("url", ["rfc2217://127.0.0.1", "rfc2217://127.0.0.1:", "rfc2217://127.0.0.1?ign_set_control",
                                 "rfc2217://:4000", "rfc2217://host:99999", "rfc2217://host:0", "rfc2217://host:abc"])
def test_rfc2217_url_without_a_usable_port_is_refused_with_the_expected_form(tmp_path, url):
    for text in (f'[[board]]\nname = "a"\nport = "{url}"\n',
                 f'[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\ngpio_probe = {{ port = "{url}", pins = {{ "4" = "12" }} }}\n'):
        with pytest.raises(InventoryError) as error:
            load_inventory(write(tmp_path, text))
        assert url in str(error.value) and "rfc2217://host:port" in str(error.value), str(error.value)


def test_rfc2217_urls_with_options_and_ipv6_are_accepted(tmp_path):
    text = ('[[board]]\nname = "a"\nport = "rfc2217://rig.local:4000?ign_set_control"\n\n'
            '[[board]]\nname = "b"\nport = "rfc2217://[::1]:4001"\n')
    assert [b.port for b in load_inventory(write(tmp_path, text))] == ["rfc2217://rig.local:4000?ign_set_control",
                                                                       "rfc2217://[::1]:4001"]


def test_hil_boards_reports_a_list_of_pins_as_an_error_not_a_traceback(tmp_path, capsys):
    from nodemcu_hil.cli import main as hil_main

    path = write(tmp_path, '[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\n'
                           'gpio_probe = { port = "/dev/ttyUSB9", pins = [4, 12] }\n')
    assert hil_main(["boards", "--boards-file", str(path)]) == 1
    assert f"{path}:4:" in capsys.readouterr().err


UHUBCTL = 'power = { on = "uhubctl -l 1-1 -p {port} -a on", off = "uhubctl -l 1-1 -p 2 -a off" }\n'


def test_power_templates_are_kept_as_written_and_cycle_is_optional(tmp_path):
    text = ('[[board]]\nname = "a"\nport = "/dev/ttyUSB0"\n' + UHUBCTL + '\n'
            '[[board]]\nname = "b"\nport = "/dev/ttyUSB1"\nmac = "5c:cf:7f:00:00:01"\n\n'
            '[board.power]\non = "relay {name} on"\noff = "relay {mac} off"\ncycle = "relay {name} cycle"\n\n'
            '[[board]]\nname = "c"\nport = "/dev/ttyUSB2"\n')
    first, second, third = load_inventory(write(tmp_path, text))
    assert first.power.on == "uhubctl -l 1-1 -p {port} -a on" and first.power.cycle is None
    assert (second.power.off, second.power.cycle) == ("relay {mac} off", "relay {name} cycle")
    assert third.power is None
