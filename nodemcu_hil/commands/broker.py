"""`hil broker`: the harness's MQTT broker for manual work, printing every publish.

It admits no anonymous client. It makes two users for this run: the harness's (every
topic: for you, mosquitto_sub/pub, a test client) and a board's (topics under the setting
topic_prefix only), the board's replaced by the settings broker_user / broker_password when
they are set (HIL_BROKER_USER, HIL_BROKER_PASSWORD or the secrets file), which is also how
`hil deploy` writes them into a board's config.

Where the passwords go: stdout carries only `READY <url>` and the messages (each line masked);
the credentials go to stderr, in clear only when stderr is a terminal (they are shown there
once, since that is their purpose), masked otherwise (a redirected log never holds them).
They are always written to a file readable by this user only (`--credentials-file`, default
a fresh private directory), whose path is printed.
"""

from __future__ import annotations

from nodemcu_hil.device_config import DEFAULT_BROKER_PORT


def configure(parser) -> None:
    parser.add_argument("--bind", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; auto: this host's one non-loopback IPv4 "
                             "interface, an error listing them when there are several)")
    parser.add_argument("--port", type=int, default=DEFAULT_BROKER_PORT,
                        help=f"TCP port (default {DEFAULT_BROKER_PORT}; 0 picks a free one)")
    parser.add_argument("--topic-prefix", help="the setting topic_prefix: the board's user may use <prefix>/# only")
    parser.add_argument("--credentials-file", help="where to write the credentials (mode 0600; default: a new "
                                                   "private temporary directory)")
    parser.add_argument("--seconds", type=float, help="stop after this long (default: until CTRL-C)")


def credentials_text(security) -> str:
    """The credentials file (TOML), real passwords: for scripts and for `hil deploy`."""
    import json

    from nodemcu_hil.secrets import reveal

    board = security.boards[0]
    return (f"[harness]  # every topic\nuser = {json.dumps(security.harness.username)}\n"
            f"password = {json.dumps(reveal(security.harness.password))}\n\n"
            f"[board]  # topics {', '.join(board.topics)}\nuser = {json.dumps(board.credentials.username)}\n"
            f"password = {json.dumps(reveal(board.credentials.password))}\n")


def announce(security, address: str, path, *, in_clear: bool) -> list[str]:
    """The lines stderr gets: passwords in clear on a terminal only."""
    from nodemcu_hil.secrets import reveal

    shown = (lambda secret: reveal(secret)) if in_clear else (lambda secret: str(secret))
    board = security.boards[0]
    lines = [f"hil broker: listening on {address}; anonymous clients are refused",
             f"hil broker: harness user {security.harness.username} password {shown(security.harness.password)} "
             "(every topic)",
             f"hil broker: board user {board.credentials.username} password {shown(board.credentials.password)} "
             f"(topics {', '.join(board.topics)}; give them to hil deploy as HIL_BROKER_USER / HIL_BROKER_PASSWORD)",
             f"hil broker: credentials in {path} (readable by you only)"]
    if not in_clear:
        lines.insert(1, "hil broker: stderr is not a terminal: passwords masked here, see the credentials file")
    return lines


def _write_private(path, text: str) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its mode with O_CREAT


def run(args) -> int:
    import sys
    import tempfile
    import time
    from pathlib import Path

    from nodemcu_hil import bringup
    from nodemcu_hil.broker import HilBroker
    from nodemcu_hil.broker_security import session_security
    from nodemcu_hil.config import resolve_for_cli
    from nodemcu_hil.errors import WaitTimeout
    from nodemcu_hil.secrets import redact_remembered

    settings = resolve_for_cli({"topic_prefix": args.topic_prefix} if args.topic_prefix else {})
    bind = bringup.choose_bind_address(bringup.ipv4_interfaces()) if args.bind == "auto" else args.bind
    security = session_security({"manual": settings.topic_prefix}, user=settings.broker_user,
                                password=settings.broker_password)
    path = Path(args.credentials_file) if args.credentials_file else \
        Path(tempfile.mkdtemp(prefix="hil-broker-")) / "credentials.toml"
    _write_private(path, credentials_text(security))
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    with HilBroker(bind, args.port, security=security,
                   on_action=lambda text: print(f"hil {text}", file=sys.stderr, flush=True)) as broker:
        print(f"READY {broker.address.url}", flush=True)
        for line in announce(security, f"{broker.host}:{broker.port}", path, in_clear=sys.stderr.isatty()):
            print(line, file=sys.stderr, flush=True)
        since = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            try:
                message = broker.messages.wait_for("#", since=since, timeout=0.5)
            except WaitTimeout:
                continue
            since = message.at + 1e-9
            flags = f"qos{message.qos}{' retained' if message.retain else ''}"
            print(redact_remembered(f"{message.sender or '-'} {message.topic} [{flags}] {message.text}"), flush=True)
    return 0
