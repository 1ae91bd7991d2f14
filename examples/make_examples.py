"""Writes the sample responses in this folder (run from the project root: python examples/make_examples.py).

Made from the 22/414 and 21/761 consultations: the response form filled in by Statens
legemiddelverk as PDF, a municipality answering in the mail body, a late one, a private
person who forgot the case number, and a response to 21/761. All addresses are the
organisations' real domains; the people and their words are made up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORM = HERE.parent / "tests" / "fixtures" / "forms" / "skjema-ja.pdf"


def write(name: str, *, sender: str, subject: str, body: str, sent: datetime, msgid: str,
          attachment: tuple[str, bytes] | None = None) -> None:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Direktoratet for e-helse <postmottak@ehelse.no>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = msgid
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment[1], maintype="application", subtype="pdf", filename=attachment[0])
    (HERE / name).write_bytes(msg.as_bytes())


write(
    "01-legemiddelverket-skjema.eml",
    sender="Statens legemiddelverk <post@legemiddelverket.no>",
    subject="Høringssvar - Nasjonal e-helsestrategi - sak 22/414",
    body="Hei,\n\nVedlagt følger Legemiddelverkets høringssvar til Nasjonal e-helsestrategi "
         "for helse- og omsorgssektoren, på direktoratets skjema.\n\n"
         "Med vennlig hilsen\nIngrid Solberg\nseniorrådgiver\nStatens legemiddelverk\n",
    sent=datetime(2022, 9, 28, 8, 12, tzinfo=UTC),
    msgid="<20220928081200.4411@legemiddelverket.no>",
    attachment=("Høringssvar Legemiddelverket - sak 22-414.pdf", FORM.read_bytes()),
)
write(
    "02-bergen-kommune-i-teksten.eml",
    sender="Bergen kommune <postmottak@bergen.kommune.no>",
    subject="Innspill til høring om nasjonal e-helsestrategi (deres ref. 22/414)",
    body="Bergen kommune viser til høringsbrevet av 31. mai 2022.\n\n"
         "Kommunen stiller seg bak de fem strategiske målene, men ber om at målindikatorene for "
         "samhandling gjøres målbare også for kommunal helse- og omsorgstjeneste, og at "
         "finansieringen av felles løsninger avklares før strategien vedtas.\n\n"
         "Med hilsen\nByrådsavdeling for helse og omsorg\nBergen kommune\n",
    sent=datetime(2022, 9, 30, 13, 40, tzinfo=UTC),
    msgid="<CAB3rgen.0930134000@bergen.kommune.no>",
)
write(
    "03-legeforeningen-for-sent.eml",
    sender="Den norske legeforening <legeforeningen@legeforeningen.no>",
    subject="Høringssvar sak 22/414 Nasjonal e-helsestrategi",
    body="Vi beklager at svaret kommer etter fristen.\n\n"
         "Legeforeningen mener strategien må si tydeligere hvordan journalsystemene skal bli "
         "enklere å bruke for klinikerne, og hvordan kvaliteten på strukturerte data skal sikres.\n\n"
         "Vennlig hilsen\nDen norske legeforening\n",
    sent=datetime(2022, 10, 3, 9, 5, tzinfo=UTC),
    msgid="<f3a9c2e1-legeforeningen-20221003@legeforeningen.no>",
)
write(
    "04-privatperson-uten-saksnummer.eml",
    sender="Kari Nordmann <kari.nordmann@gmail.com>",
    subject="Innspill til e-helsestrategien",
    body="Hei!\n\nJeg er pårørende og bruker helsenorge.no mye. Det må bli lettere å se "
         "hvilke opplysninger som er delt om min mor, og hvem som har sett dem.\n\nHilsen Kari\n",
    sent=datetime(2022, 9, 20, 18, 30, tzinfo=UTC),
    msgid="<CAK-kari-20220920@mail.gmail.com>",
)
write(
    "05-ffo-styringsmodell.eml",
    sender="Funksjonshemmedes Fellesorganisasjon <post@ffo.no>",
    subject="Høringssvar - Nasjonal styringsmodell for e-helse - sak 21/761",
    body="FFO støtter at brukerorganisasjonene får en fast plass i den nasjonale "
         "styringsmodellen, og ber om at det gjelder alle nivåer, også prioriteringsrådet.\n\n"
         "Med vennlig hilsen\nFunksjonshemmedes Fellesorganisasjon\n",
    sent=datetime(2022, 4, 8, 11, 0, tzinfo=UTC),
    msgid="<ffo-21-761-20220408@ffo.no>",
)
