"""`hil broker`: the harness's MQTT broker for manual work, printing every publish."""

from __future__ import annotations

from nodemcu_hil.device_config import DEFAULT_BROKER_PORT




def configure(parser) -> None:
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_BROKER_PORT,
                        help=f"TCP port (default {DEFAULT_BROKER_PORT}; 0 picks a free one)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until CTRL-C)")


def run(args) -> int:
    import time

    from nodemcu_hil.broker import HilBroker
    from nodemcu_hil.errors import WaitTimeout

    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    with HilBroker(args.bind, args.port) as broker:
        print(f"READY {broker.address.url}", flush=True)
        since = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            try:
                message = broker.messages.wait_for("#", since=since, timeout=0.5)
            except WaitTimeout:
                continue
            since = message.at + 1e-9
            flags = f"qos{message.qos}{' retained' if message.retain else ''}"
            print(f"{message.sender or '-'} {message.topic} [{flags}] {message.text}", flush=True)
    return 0


