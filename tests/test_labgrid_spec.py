"""The [labgrid] table of boards.toml: what it accepts, and each mistake with file and line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nodemcu_hil.errors import InventoryError
from nodemcu_hil.labgrid_places import LabgridSpec, parse_labgrid_table

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PATH = Path("/rig/boards.toml")


def parse(text: str) -> LabgridSpec:
    return parse_labgrid_table(PATH, text, tomllib.loads(text)["labgrid"])


def test_named_places():
    spec = parse('# the farm\n[labgrid]\ncoordinator = "farm.lan:20408"\nplaces = ["nodemcu-1", "nodemcu-2"]\n'
                 "power = true\n")
    assert spec == LabgridSpec("farm.lan:20408", ("nodemcu-1", "nodemcu-2"), (), True)


def test_places_by_tags():
    spec = parse('[labgrid]\ncoordinator = "[fd00::1]"\nmatch = ["board=nodemcu", "rig=a"]\n')
    assert (spec.coordinator, spec.places, spec.match, spec.power) == ("[fd00::1]", (), ("board=nodemcu", "rig=a"),
                                                                        False)


@pytest.mark.parametrize("body, line, message", [
    ('coordinator = "farm"\nplaces = ["a"]\nport = 1\n', 6, "unknown key 'port'"),
    ('places = ["a"]\n', 3, "needs coordinator"),
    ('coordinator = "farm:99999"\nplaces = ["a"]\n', 4, "port 1-65535"),
    ('coordinator = "farm lan"\nplaces = ["a"]\n', 4, "expected HOST"),
    ('coordinator = "farm"\nplaces = "a"\n', 5, "list of place names"),
    ('coordinator = "farm"\nplaces = ["a", "a"]\n', 5, "'a' is listed twice"),
    ('coordinator = "farm"\n\nmatch = ["Board=x"]\n', 6, "key=value"),
    ('coordinator = "farm"\nmatch = ["board"]\n', 5, "key=value"),
    ('coordinator = "farm"\nmatch = ["rig=a", "rig=b"]\n', 5, "rig is given twice"),
    ('coordinator = "farm"\n', 3, "exactly one of"),
    ('coordinator = "farm"\nplaces = ["a"]\nmatch = ["rig=a"]\n', 5, "exactly one of"),
    ('coordinator = "farm"\nplaces = ["a"]\npower = "yes"\n', 6, "power must be true or false"),
])
def test_each_mistake_names_file_and_line(body, line, message):
    text = f"# boards\n\n[labgrid]\n{body}\n[other]\nplaces = 1\n"  # a later table's keys are not the table's
    with pytest.raises(InventoryError, match=message) as error:
        parse(text)
    assert str(error.value).startswith(f"{PATH}:{line}: [labgrid] ")
