# GPIO commands from MQTT: parse, check against the allow-list, apply.
# Pure logic over a pin factory, so the host tests run it under the unix port.

FLASH_PINS = (6, 7, 8, 9, 10, 11)  # wired to the SPI flash: touching them crashes the chip
ACTIONS = {b'0': 0, b'1': 1, b'off': 0, b'on': 1, b'toggle': 2}
TOGGLE = 2


class CommandError(Exception):
    pass


def parse_payload(payload):
    action = ACTIONS.get(bytes(payload).strip().lower())
    if action is None:
        raise CommandError('bad payload')
    return action


def parse_pin(text):
    try:
        pin = int(text)
    except ValueError:
        raise CommandError('bad pin')
    if pin < 0:
        raise CommandError('bad pin')
    return pin


def allowed(pin, allow):
    return pin in allow and pin not in FLASH_PINS


class Gpio:
    # make_pin(n) returns an output pin object with value(); made on first use.

    def __init__(self, allow, make_pin):
        self.allow = tuple(p for p in allow if p not in FLASH_PINS)
        self.make_pin = make_pin
        self.pins = {}

    def handle(self, pin_text, payload):
        # Returns (pin, new_value); raises CommandError, never touches a refused pin.
        pin = parse_pin(pin_text)
        action = parse_payload(payload)
        if not allowed(pin, self.allow):
            raise CommandError('pin not allowed')
        out = self.pins.get(pin)
        if out is None:
            out = self.pins[pin] = self.make_pin(pin)
        value = (1 - out.value()) if action == TOGGLE else action
        out.value(value)
        return pin, value
