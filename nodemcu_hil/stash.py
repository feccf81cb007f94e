"""The keys under which the harness keeps its session state in pytest's stash.

One module for all of them, imported by the plugin, the report hooks and the redaction,
so that none of those imports another to find a key (they used to import each other).
"""

from __future__ import annotations

import pytest

from nodemcu_hil.config import Settings
from nodemcu_hil.messages import MessageLog
from nodemcu_hil.sources import BoardSource
from nodemcu_hil.timeline import Timeline

# On the config, set by the plugin at start-up.
SETTINGS_KEY = pytest.StashKey[Settings]()
SOURCE_KEY = pytest.StashKey[BoardSource]()

# On the config, filled by the plugin's fixtures, read when a test's reports are made.
TIMELINE_KEY = pytest.StashKey[Timeline]()
BROKER_LOG_KEY = pytest.StashKey[MessageLog]()
FINGERPRINTS_KEY = pytest.StashKey[dict[str, dict[str, object]]]()

# On a test item.
BOARDS_USED_KEY = pytest.StashKey[list[str]]()  # boards its fixtures noted
PHASE_STARTS_KEY = pytest.StashKey[dict[str, float]]()  # monotonic phase starts


def session_settings(config: pytest.Config) -> Settings | None:
    """The settings the HIL plugin resolved, or None when it is not loaded."""
    return config.stash.get(SETTINGS_KEY, None)
