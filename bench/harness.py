"""What the end-to-end benchmark and the fault injection share: mail, servers, the service process.

A run has its own Dovecot (tests/dovecot.py), an SMTP sink that notes when each
receipt arrived (tests/smtpsink.py), a database of its own (a fresh PostgreSQL
database created beside the others on the server, or a SQLite file), a copy of
the shipped workflows in which case 22/414 is still open (so its responses are
on time and the other case's are late), and ``intake serve`` as a subprocess
with a generated config.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from email.utils import make_msgid, parseaddr
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from intake.db.engine import make_engine, upgrade  # noqa: E402
from tests.builders import make_email  # noqa: E402
from tests.dovecot import Dovecot, dovecot_binary, free_port  # noqa: E402
from tests.smtpsink import Sink  # noqa: E402

FORMS = REPO / "tests" / "fixtures" / "forms"
INTAKE = Path(sys.executable).parent / "intake"
PG_ADMIN_URL = os.environ.get("INTAKE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
USER = "postmottak"
OTHERS = ["online.no", "gmail.com", "hotmail.com", "uio.no", "ntnu.no", "oslo.kommune.no", "bergen.kommune.no"]


# ---------------------------------------------------------------- mail


@dataclass(frozen=True)
class Response:
    """One generated consultation response: its Message-ID and what kind it is."""

    message_id: str
    kind: str  # pdf | docx | text | big
    raw: bytes


def invited_domains() -> list[str]:
    data = yaml.safe_load((REPO / "workflows" / "22-414.yaml").read_text(encoding="utf-8"))
    return sorted({d for org in data["invited"] for d in org.get("domains", [])})


def make_responses(n: int, *, seed: int = 7, big: bool = False) -> list[Response]:
    """``n`` responses: 60 % with a PDF form, 20 % with a DOCX form, 20 % text only.

    Most go to the open case 22/414 (on time); one in ten names the closed case
    21/761 (late). Senders are the invited organisations' domains and private
    addresses. With ``big`` one more message carries a 50 MB PDF attachment.
    """
    rnd = random.Random(seed)
    pdfs = sorted(FORMS.glob("*.pdf"))
    docxs = sorted(FORMS.glob("*.docx"))
    domains = invited_domains()
    blobs = {p: p.read_bytes() for p in [*pdfs, *docxs]}
    out: list[Response] = []
    for i in range(n):
        roll = rnd.random()
        kind = "pdf" if roll < 0.6 else "docx" if roll < 0.8 else "text"
        domain = rnd.choice(domains) if rnd.random() < 0.7 else rnd.choice(OTHERS)
        sender = f"Avsender {i} <person{i}@{domain}>"
        case = "21/761" if rnd.random() < 0.1 else "22/414"
        attachments: list[tuple[str, str, bytes]] = []
        if kind == "pdf":
            form = rnd.choice(pdfs)
            attachments.append((f"horingssvar-{i}.pdf", "application/pdf", blobs[form]))
        elif kind == "docx":
            form = rnd.choice(docxs)
            attachments.append((f"horingssvar-{i}.docx",
                                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                blobs[form]))
        mid = make_msgid(idstring=f"b{i}", domain=domain)
        body = (f"Hei,\n\nVi viser til høringen i sak {case} og sender vårt høringssvar.\n"
                f"Svar nummer {i}.\n\nMed vennlig hilsen\nAvsender {i}")
        raw = make_email(subject=f"Høringssvar sak {case}", sender=sender, body=body,
                         attachments=attachments, message_id=mid, date=datetime.now(UTC))
        out.append(Response(mid, kind, raw))
    if big:
        out.append(big_response())
    return out


def big_response() -> Response:
    """A response whose PDF is padded to 50 MB: the form followed by a large unreferenced stream."""
    form = (FORMS / "skjema-ja.pdf").read_bytes()
    pad = 50 * 1024 * 1024 - len(form)
    # Bytes after %%EOF are ignored by PDF readers; random bytes do not compress, like a scanned annex.
    data = form + b"\n%" + random.Random(1).randbytes(pad)
    mid = make_msgid(idstring="big", domain="legeforeningen.no")
    raw = make_email(subject="Høringssvar sak 22/414 med stort vedlegg", sender="Stor Fil <stor@legeforeningen.no>",
                     attachments=[("vedlegg-stort.pdf", "application/pdf", data)], message_id=mid,
                     date=datetime.now(UTC))
    return Response(mid, "big", raw)


# ---------------------------------------------------------------- receipts sink


@dataclass
class TimedSink(Sink):
    """The test sink that also notes when each receipt arrived, keyed by the message it answers."""

    arrived: dict[str, list[float]] = field(default_factory=dict)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            # A long Message-ID is folded onto the next line; the parser unfolds it.
            head = BytesHeaderParser(policy=policy.default).parsebytes(bytes(envelope.content))
            answered = str(head.get("In-Reply-To", "")).strip()
            with self._lock:
                self.arrived.setdefault(answered, []).append(time.time())
        return reply

    def count(self) -> int:
        with self._lock:
            return len(self.arrived)

    def duplicates(self) -> int:
        with self._lock:
            return sum(len(v) - 1 for v in self.arrived.values())


# ---------------------------------------------------------------- database


def create_database(kind: str, folder: Path, admin_url: str = PG_ADMIN_URL) -> tuple[str, Any]:
    """A fresh, migrated database; returns its URL and a function that drops it."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'intake.db'}"
    else:
        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"intake_bench_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        if kind == "sqlite":
            return
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    except Exception:
        drop()
        raise
    return url, drop


def open_workflows(folder: Path) -> Path:
    """The shipped workflows with 22/414's deadline a month ahead; 21/761 stays closed."""
    target = folder / "workflows"
    shutil.copytree(REPO / "workflows", target)
    path = target / "22-414.yaml"
    ahead = (date.today() + timedelta(days=30)).isoformat()
    path.write_text(path.read_text(encoding="utf-8").replace("deadline: 2022-10-01", f"deadline: {ahead}"),
                    encoding="utf-8")
    return target


# ---------------------------------------------------------------- the service


def toml_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def write_config(folder: Path, database_url: str, dovecot: Dovecot, sink: Sink, workers: int,
                 idle: bool = False, **extra: dict[str, Any]) -> Path:
    sections: dict[str, dict[str, Any]] = {
        "database": {"url": database_url},
        "storage": {"path": str(folder / "store")},
        "workflows": {"path": str(open_workflows(folder))},
        "extract": {"workers": workers},
        "smtp": {"host": "127.0.0.1", "port": sink.port, "security": "none", "timeout_seconds": 10,
                 "from_address": "postmottak@ehelse.no", "from_name": "Direktoratet for e-helse",
                 "outbox_path": str(folder / "outbox"), "rate_limit_per_hour": 0,
                 # The load is thousands of receipts an hour by design: no hourly cap may hold them.
                 "domain_limit_per_hour": 0, "total_limit_per_hour": 0,
                 "retry_base_seconds": 1, "retry_max_seconds": 5, "max_attempts": 1000,
                 # Receipts claimed by a killed process wait this long before they are taken over:
                 # twice the SMTP timeout, not the default minute, so a run with kills settles soon.
                 "claim_seconds": 20},
        "web": {"port": free_port()},
    }
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    box = dovecot.mailbox_settings(USER, poll_interval_seconds=1, after_processing="none", idle=idle)
    lines = [f"[{name}]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
             for name, values in sections.items()]
    lines.append("[[mailboxes]]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in box.items()))
    path = folder / "intake.toml"
    path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return path


class Service:
    """``intake serve`` as a subprocess, started again after every kill; its output goes to one log."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(INTAKE), "--config", str(self.config), "serve"], stdout=out, stderr=subprocess.STDOUT,
                # The code of this checkout, not whichever the installed ``intake`` script points to
                # (a venv shared between checkouts runs another checkout's code otherwise).
                env={**os.environ, "PYTHONUNBUFFERED": "1",
                     "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
                start_new_session=True)
        self.starts += 1

    def kill(self) -> None:
        """kill -9 of the service and its extraction workers, as a power cut or the OOM killer would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None

    def stop(self) -> int:
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        self.process = None
        return code


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (the extraction workers and their forkserver), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        one = todo.pop()
        out.append(one)
        todo.extend(children.get(one, []))
    return out


def memory_of(pids: list[int]) -> tuple[int, int]:
    """Summed RSS and PSS in bytes. RSS counts pages the forkserver's children share once per
    process; PSS divides each shared page among its sharers, so it adds up to the real use."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return rss, pss


def cpu_of(pids: list[int]) -> float:
    """User plus system CPU seconds the live processes have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """Samples the service tree's memory every 100 ms and keeps the peaks (RSS sum and PSS sum)."""

    def __init__(self, service: Service) -> None:
        super().__init__(daemon=True)
        self.service = service
        self.peak = 0
        self.peak_pss = 0
        self.peak_parts = ""  # PSS per process at the peak: where the memory was
        self.cpu_seconds = 0.0
        self.cpu_service = 0.0  # of the service process alone (the rest is the extraction workers)
        self.halt = threading.Event()

    def run(self) -> None:
        pids: list[int] = []
        rounds = 0
        while not self.halt.wait(0.1):
            process = self.service.process
            if process is not None:
                # Walking all of /proc costs more than reading five processes: once a second.
                if rounds % 10 == 0 or process.pid not in pids:
                    pids = tree_pids(process.pid)
                rounds += 1
                per = {pid: memory_of([pid]) for pid in pids}
                rss, pss = sum(r for r, _ in per.values()), sum(p for _, p in per.values())
                self.cpu_seconds = max(self.cpu_seconds, cpu_of(pids))
                self.cpu_service = max(self.cpu_service, cpu_of([process.pid]))
                self.peak = max(self.peak, rss)
                if pss > self.peak_pss:
                    self.peak_pss = pss
                    self.peak_parts = ", ".join(
                        f"{'service' if pid == process.pid else pid} {p / 2**20:.0f}" for pid, (_, p) in per.items()
                    )


def start_dovecot() -> Dovecot:
    binary = dovecot_binary()
    if binary is None:
        raise SystemExit("dovecot is not installed (Debian package dovecot-imapd)")
    server = Dovecot(binary)
    server.start()
    return server


def sender_of(raw: bytes) -> str:
    for line in raw.split(b"\n", 40):
        if line.lower().startswith(b"from:"):
            return parseaddr(line[5:].decode("utf-8", "replace").strip())[1]
    return ""
