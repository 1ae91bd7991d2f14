"""A real Dovecot IMAP server on a free loopback port, in a folder of its own.

Used by the IMAP tests and by ``bench/imap.py``. Every user's password is
``secret`` (a static passdb), which also serves as the XOAUTH2 token, since
Dovecot checks an OAuth2 bearer token against the passdb like a password.
As root, Dovecot needs unprivileged login and internal users and a mail
folder owned by the ``dovecot`` user; as anyone else it runs as that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

from intake.sources.imap_connect import quiet
from tests.ports import free_port

PASSWORD = "secret"



# The IMAP server itself (Debian's dovecot-imapd); dovecot-core alone has the master but no IMAP.
IMAP_DAEMON = Path("/usr/lib/dovecot/imap")


def dovecot_binary() -> str | None:
    """The dovecot master, when the IMAP server it starts is installed too."""
    if not IMAP_DAEMON.exists():
        return None
    return shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


class Dovecot:
    """One Dovecot process; ``stop()`` and ``start()`` simulate a server restart on the same port."""

    def __init__(
        self, binary: str, port: int | None = None, extra: str = "", *, oauth2_introspection: str | None = None
    ) -> None:
        """``extra``: more configuration, e.g. a namespace such as Cyrus or Courier lay out.

        ``oauth2_introspection`` (a URL) checks XOAUTH2 with Dovecot's ``oauth2`` passdb, which posts
        each token to that URL and lets in the user the answer names; LOGIN keeps the static password."""
        self.binary = binary
        self.extra = extra
        self.oauth2_introspection = oauth2_introspection
        self.port = port or free_port()
        # Unix socket paths are limited to about 100 bytes, so the folder is short and under /tmp.
        self.root = Path(tempfile.mkdtemp(prefix="dv", dir="/tmp"))
        # Dovecot's own users must be able to pass through the folder to reach the mail.
        self.root.chmod(0o755)
        self.mail = self.root / "mail"
        self.conf = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._write_config()

    def _write_config(self) -> None:
        self.mail.mkdir()
        if os.geteuid() == 0:
            user = pwd.getpwnam("dovecot")
            os.chown(self.mail, user.pw_uid, user.pw_gid)
            owners = "default_login_user = dovenull\ndefault_internal_user = dovecot\n"
            uid, gid = user.pw_uid, user.pw_gid
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            owners = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
            uid, gid = os.geteuid(), os.getegid()
        passdb = f"""passdb {{
  driver = static
  args = password={PASSWORD}
}}"""
        anvil = ""
        if self.oauth2_introspection:
            oauth2 = self.root / "oauth2.conf.ext"
            oauth2.write_text(
                f"introspection_mode = post\nintrospection_url = {self.oauth2_introspection}\n"
                "force_introspection = yes\nusername_attribute = username\n"
                "active_attribute = active\nactive_value = true\n",
                encoding="utf-8",
            )
            passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {oauth2}
}}
passdb {{
  driver = static
  mechanisms = plain login
  args = password={PASSWORD}
}}"""
            # A refused token is part of these tests; the penalty would slow every later login by seconds
            # (login_trusted_networks does not spare XOAUTH2 from it).
            anvil = "\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }"
        self.conf.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
# Failed logins are part of the tests; without these Dovecot slows every later login from loopback.
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
{owners}first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{self.mail}/%u
mail_fsync = never
{passdb}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={self.mail}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot ={anvil}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
{self.extra}
""",
            encoding="utf-8",
        )

    def start(self, timeout: float = 15.0) -> None:
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"dovecot exited: {err.strip()} {self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not start on port {self.port}: {self.log_text()}")

    def stop(self) -> None:
        """Kills the server and every session it serves at once, the way a crash or a network cut would."""
        if self.process is None:
            return
        # Dovecot's own shutdown lets connected sessions finish; killing the whole process
        # group drops them mid-command, which is the failure the poller must survive.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(0.05)
            except OSError:
                return

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def client(self, user: str = "postmottak") -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        quiet(client)  # no debug string of every message appended
        client.login(user, PASSWORD)
        return client

    def append(
        self, raw: bytes, *, user: str = "postmottak", folder: str = "INBOX", when: datetime | None = None
    ) -> None:
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, msg_time=when)

    def append_many(self, messages: list[bytes], *, user: str = "postmottak", folder: str = "INBOX") -> None:
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw)

    def mailbox_settings(self, user: str, name: str = "postmottak", **overrides: object) -> dict[str, object]:
        """The ``[[mailboxes]]`` entry for ``user``'s mailbox on this server."""
        return {
            "name": name, "host": "127.0.0.1", "port": self.port, "security": "none",
            "username": user, "password": PASSWORD, "poll_interval_seconds": 1, "timeout_seconds": 10,
            **overrides,
        }

    def uids(self, user: str, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """Every message in ``folder`` by UID, with its flags."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            return {uid: tuple(flags) for uid, flags in client.get_flags(client.search("ALL")).items()}
