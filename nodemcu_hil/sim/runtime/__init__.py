"""The virtual ESP8266's firmware side: the real MicroPython interpreter, run as the chip.

One `Runtime` per chip boot. It writes a run directory (`bootfiles.py`), starts a child
CPython process (`child.py`) on a PTY that calls the unix port's `run_main` in a loop
(each return is a soft reset: `MPY: soft reboot`), and translates the child's terminal
output into ESP8266 UART bytes (`translate.py`: CRLF, banner). At every boot the
MicroPython side (`mp/_vboot.py`) replaces `sys` and `gc`, pre-imports the ESP8266
modules from `nodemcu_hil/sim/esp8266/`, mounts the LFS2 filesystem from the flash file
(creating it on a blank area, as inisetup does), fits the heap, and runs boot.py and,
in the friendly REPL, main.py.

The `_vboard` module (generated at each boot, `bootfiles.py`) gives the ESP8266
modules: MAC, FLASH_SIZE, FLASH_PATH, FS_START (byte offset), FS_BLOCKS, USER_START,
RESET_CAUSE (machine.reset_cause() value), VERSION, BUILD_DATE, MACHINE, WORLD
((host, port) or None), HEAP_TOTAL, HEAP_SCALE, `flash()` (the flash file, opened before
'/' is replaced: use it for esp.flash_read/write) and `request_reset(kind)`.

Host paths vanish once the flash filesystem replaces '/': every top-level module in
nodemcu_hil/sim/esp8266/ is imported before that (`bootfiles.esp_modules`), so none of
them may count on importing another host file later. Their traceback frames, and the
runtime's own, are removed from the output (on the chip those are C or frozen code).
CTRL-C (`session.py`) and the heap (`heap.py`) say how they follow the chip.

Reset requests: `_vboard.request_reset(kind)` with kind 'hard' (machine.reset()),
'deepsleep' or 'wdt' writes an in-band mark (DLE 'R' letter, layout.RESET_MARK) to the
real stdout and waits; the host kills the interpreter at once and calls
`on_reset(kind)`. An interpreter that dies on its own calls `on_reset('crash')`. The board
answers by rebooting the chip through the ROM (a new `Runtime`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from nodemcu_hil.sim.runtime.banner import esp8266_banner, unix_banner
from nodemcu_hil.sim.runtime.bootfiles import ESP_DIR, MP_DIR, BootParams, write_run_dir
from nodemcu_hil.sim.runtime.heap import HeapConfig
from nodemcu_hil.sim.runtime.session import ChildSession
from nodemcu_hil.sim.runtime.translate import OutputTranslator

__all__ = ["BootParams", "HeapConfig", "Runtime"]


class Runtime:
    """The interpreter for one boot of the chip: receive() host bytes, stop() on reset."""

    def __init__(self, params: BootParams, run_dir: Path, output: Callable[[bytes], None],
                 on_reset: Callable[[str], None] | None = None):
        self.params = params
        self.run_dir = Path(run_dir)
        translator = OutputTranslator(unix_banner(),
                                      esp8266_banner(params.version, params.build_date, params.machine),
                                      hide_dirs=(str(ESP_DIR), str(MP_DIR)))
        self._session = ChildSession(self.run_dir, translator, output, on_reset)

    @property
    def pid(self) -> int | None:
        return self._session.pid

    def start(self) -> "Runtime":
        write_run_dir(self.run_dir, self.params)
        self._session.start()
        return self

    def receive(self, data: bytes) -> None:
        self._session.write(data)

    def stop(self) -> None:
        self._session.stop()
