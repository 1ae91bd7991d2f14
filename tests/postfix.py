"""A private Postfix on loopback that relays everything to a test SMTP sink, for receipt tests.

It runs as its own instance (``postfix -c <folder>``) with its own queue, data
folder and ports, so the machine's own Postfix, if any, is left alone. Postfix
starts as root and drops to its ``postfix`` user, which must be able to reach
the folder: it is made under the system's temporary folder, not under pytest's
private one. Receipts go intake -> Postfix -> the sink, so a test sees what
Postfix accepted and passed on, envelope sender included.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ports import free_port
from tests.smtpsink import Sink

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SERVICES = """\
{port}   inet  n  -  n  -  -  smtpd
pickup   unix  n  -  n  60 1  pickup
cleanup  unix  n  -  n  -  0  cleanup
qmgr     unix  n  -  n  300 1 qmgr
rewrite  unix  -  -  n  -  -  trivial-rewrite
bounce   unix  -  -  n  -  0  bounce
defer    unix  -  -  n  -  0  bounce
trace    unix  -  -  n  -  0  bounce
verify   unix  -  -  n  -  1  verify
flush    unix  n  -  n  1000? 0 flush
proxymap unix  -  -  n  -  -  proxymap
smtp     unix  -  -  n  -  -  smtp
relay    unix  -  -  n  -  -  smtp
showq    unix  n  -  n  -  -  showq
error    unix  -  -  n  -  -  error
retry    unix  -  -  n  -  -  error
discard  unix  -  -  n  -  -  discard
anvil    unix  -  -  n  -  1  anvil
scache   unix  -  -  n  -  1  scache
postlog  unix-dgram n - n - 1 postlogd
tlsmgr   unix  -  -  n  1000? 1 tlsmgr
"""


def unavailable() -> str | None:
    """Why a private Postfix cannot run here, or None when it can."""
    if not Path(POSTFIX).exists():
        return "the postfix command is missing (Debian: postfix)"
    if os.geteuid() != 0:
        return "Postfix must be started as root"
    try:
        import pwd

        pwd.getpwnam("postfix")
    except KeyError:
        return "there is no postfix user (Debian: postfix)"
    return None


class Postfix:
    """One Postfix instance: ``port`` takes mail from loopback and relays it all to ``sink``.

    With ``require_tls`` it takes mail only after STARTTLS (``smtpd_tls_security_level =
    encrypt``), with a certificate for 127.0.0.1 that is its own CA (``ca_file``), as an
    agency's relay does; a client that does not start TLS gets ``530 5.7.0 Must issue a
    STARTTLS command first``.
    """

    def __init__(self, *, require_tls: bool = False, relay_port: int | None = None) -> None:
        self.sink = Sink().start()
        # Where Postfix passes mail on: its sink, or (``relay_port``) a receiver of the test's own.
        self.relay_port = relay_port or self.sink.port
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="intake-postfix-"))
        self.conf = self.folder / "conf"
        self.require_tls = require_tls
        self.ca_file: Path | None = None

    def start(self) -> None:
        import pwd

        owner = pwd.getpwnam("postfix")
        data = self.folder / "data"
        for path in (self.conf, self.folder / "queue", data):
            path.mkdir()
        os.chmod(self.folder, 0o755)
        os.chown(data, owner.pw_uid, owner.pw_gid)
        (self.conf / "main.cf").write_text(
            f"""compatibility_level = 3.6
queue_directory = {self.folder / "queue"}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = relay.test.example
mydestination =
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{self.relay_port}
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
smtp_tls_security_level = none
# A test that stops the next hop wants a deferred message retried in seconds, not minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
maillog_file = {data / "maillog"}
maillog_file_prefixes = {self.folder}
{self._tls()}""", encoding="utf-8")
        (self.conf / "master.cf").write_text(SERVICES.format(port=f"127.0.0.1:{self.port}"), encoding="utf-8")
        done = subprocess.run([POSTFIX, "-c", str(self.conf), "start"], capture_output=True, text=True, timeout=60)
        if done.returncode != 0 or not self._listening(timeout=20):
            log = data / "maillog"
            raise RuntimeError(f"postfix did not start: {done.stderr.strip()} "
                               f"{log.read_text()[-2000:] if log.exists() else ''}")

    def _tls(self) -> str:
        if not self.require_tls:
            return ""
        from tests.smtpsink import self_signed

        cert, key = self_signed(self.conf)
        self.ca_file = cert
        return (f"smtpd_tls_cert_file = {cert}\nsmtpd_tls_key_file = {key}\n"
                "smtpd_tls_security_level = encrypt\nsmtpd_tls_loglevel = 1\n")

    def _listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def smtp_settings(self, **extra: object) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "timeout_seconds": 10, **extra}

    def flush(self) -> None:
        """Asks Postfix to try every deferred message now (``postqueue -f``)."""
        postqueue = shutil.which("postqueue") or "/usr/sbin/postqueue"
        subprocess.run([postqueue, "-c", str(self.conf), "-f"], capture_output=True, timeout=60, check=True)

    def log(self) -> str:
        path = self.folder / "data" / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        if self.conf.exists():
            subprocess.run([POSTFIX, "-c", str(self.conf), "stop"], capture_output=True, timeout=60, check=False)
        self.sink.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
