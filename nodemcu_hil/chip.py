"""The ESP8266's facts, in one place: pins, flash layout, baud rates, image magic, heap.

Every module of the harness and of the virtual board reads these instead of repeating
them (architecture: one chip profile module). Sources are in docs/virtual-board.md.

Rule: this module imports nothing, and above all nothing of nodemcu_hil. That is what
lets the virtual board (`nodemcu_hil.sim`, which must never import the rest of the
harness) import it too. The MicroPython-side modules the virtual board runs inside the
interpreter (`nodemcu_hil/sim/esp8266/`) cannot import host code at all; their own copies
of these facts are checked against this module by tests/test_chip.py.
"""

CHIP_NAME = "ESP8266"  # esptool's CHIP_NAME for the ESP8266EX
CHIP_MAGIC = 0xFFF0C101  # the word at 0x40001000 esptool reads to detect the chip

# ---- GPIO (ports/esp8266/machine_pin.c, esppwm.c)
GPIO_PINS = (0, 1, 2, 3, 4, 5, 9, 10, 12, 13, 14, 15, 16)  # machine.Pin ids; others: "invalid pin"
FLASH_PINS = (6, 7, 8, 9, 10, 11)  # wired to the SPI flash: switching one crashes the chip
UART0_TX_PIN = 1
UART0_RX_PIN = 3
UART_PINS = (UART0_TX_PIN, UART0_RX_PIN)  # the REPL's serial port
OUTPUT_PINS = tuple(pin for pin in GPIO_PINS if pin not in FLASH_PINS and pin not in UART_PINS)
PWM_PINS = tuple(pin for pin in OUTPUT_PINS if pin != 16)  # GPIO16 has no PWM (nor IRQ)

# ---- flash layout of a MicroPython image (ports/esp8266/makeimg.py, esp8266_*.ld)
APP_OFFSET = 0x0  # the application image is flashed at 0
FLASH_SECTOR_SIZE = 0x1000
MICROPYTHON_LENGTH_OFFSET = 0x8FFC  # u32 LE: 0x9000 + len(irom0), where the MD5 sits
IROM0_OFFSET = 0x9000  # irom0.text in flash (the RAM segments end before it)
IROM0_FLASH_BASE = 0x40200000  # flash is mapped here: irom0 runs at 0x40209000
MICROPYTHON_MD5_SKIP = 4  # the MD5 covers [4:total]: esptool patches bytes 2-3 at flashing

# ---- application image format (esptool bin_image.py)
IMAGE_MAGIC = 0xE9  # V1: what the ROM boots from offset 0
IMAGE_V2_MAGIC = 0xEA  # esptool "V2" (boot.bin + user1.bin): not bootable at 0

# ---- baud rates
ROM_BOOT_BAUD = 74880  # the ROM's boot text: 115200 * 26 MHz crystal / 40 MHz it assumes
ROM_LOADER_BAUD = 115200  # the ROM serial loader syncs here (no baud change without the stub)
FIRMWARE_BAUD = 115200  # MicroPython's REPL on UART0

# ---- memory (ports/esp8266/main.c: static char heap[38 * 1024])
HEAP_TOTAL = 37952  # gc.mem_free() + gc.mem_alloc()
FREE_HEAP_AFTER_BOOT = 35000  # about 35 KB free after boot (micropython#11666, v1.20)
