"""Which xdist worker this process is: count, name and index, also without xdist.

Without xdist (or on the controller) the process is worker `gw0` of `-n` workers (1 when
`-n` was not given), so fixtures name boards and topics the same way in both cases.
"""

from __future__ import annotations

import pytest

SOLE_WORKER = "gw0"


def worker_count(config: pytest.Config) -> int:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return int(workerinput["workercount"])
    return int(getattr(config.option, "numprocesses", 0) or 0) or 1


def worker_name(config: pytest.Config) -> str:
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else SOLE_WORKER


def worker_index(config: pytest.Config) -> int:
    return int(worker_name(config).removeprefix("gw"))
