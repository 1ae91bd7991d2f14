"""Authentication-Results (RFC 8601): only our border's headers count, and only for an aligned domain."""

from __future__ import annotations

import pytest

from intake.decide.authres import parse, sender_authentication, trusted

OURS = "mx.ehelse.no"


def test_the_rfc_8601_forms_are_read() -> None:
    header = parse(
        'mx.ehelse.no 1; spf = pass (sender SPF authorized) smtp.mailfrom="post@legemiddelverket.no";\r\n'
        "\tdkim=pass (2048-bit key; unprotected) header.d=legemiddelverket.no header.s=sel1 header.b=AbC;\r\n"
        "\tdmarc=pass (p=reject dis=none) header.from=Legemiddelverket.no; auth=pass smtp.auth=x"
    )
    assert header is not None and header.authserv_id == OURS
    assert [(r.method, r.result) for r in header.results] == [("spf", "pass"), ("dkim", "pass"), ("dmarc", "pass"),
                                                               ("auth", "pass")]
    assert header.results[0].properties == {"smtp.mailfrom": "post@legemiddelverket.no"}
    assert header.results[2].properties["header.from"] == "Legemiddelverket.no"
    none = parse("mx.ehelse.no; none")
    assert none is not None and none.results == ()
    assert parse("  (only a comment) ") is None


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # Our border said pass: DMARC, or DKIM or SPF of a domain in the same organisation.
        ([f"{OURS}; dmarc=pass header.from=legemiddelverket.no"], "pass"),
        ([f"{OURS}; dkim=pass header.d=mail.legemiddelverket.no"], "pass"),
        ([f"{OURS}; spf=pass smtp.mailfrom=bounces@post.legemiddelverket.no"], "pass"),
        # Several headers of ours on top, as milters write them, are all read.
        ([f"{OURS}; spf=none", f"{OURS}; dkim=pass header.d=legemiddelverket.no", "other; dmarc=fail"], "pass"),
        # A pass for another organisation proves nothing about the From domain.
        ([f"{OURS}; dkim=pass header.d=spammer.example; spf=pass smtp.mailfrom=x@spammer.example"], "none"),
        ([f"{OURS}; dmarc=pass header.from=spammer.example"], "none"),
        # Failures.
        ([f"{OURS}; dmarc=fail header.from=legemiddelverket.no"], "fail"),
        ([f"{OURS}; spf=softfail smtp.mailfrom=post@legemiddelverket.no"], "fail"),
        # Two of "ours" that disagree: one was not written by our border, so the failure stands.
        ([f"{OURS}; dmarc=fail header.from=legemiddelverket.no", f"{OURS}; dmarc=pass"], "fail"),
        # A header with our id below one that is not ours may come from the sender: ignored.
        (["mx.spammer.example; dmarc=pass", f"{OURS}; dmarc=pass header.from=legemiddelverket.no"], "none"),
        # Another server's word is not ours, whatever it says.
        (["mx.spammer.example; dmarc=pass header.from=legemiddelverket.no"], "none"),
        (["mx.ehelse.no.spammer.example; dmarc=pass header.from=legemiddelverket.no"], "none"),
        ([], "none"),
    ],
)
def test_the_from_domain_authenticates_only_by_our_border(headers: list[str], status: str) -> None:
    assert sender_authentication(headers, OURS, "legemiddelverket.no").status == status


def test_without_a_configured_authserv_id_nothing_is_trusted() -> None:
    headers = [f"{OURS}; dmarc=pass header.from=legemiddelverket.no"]
    assert trusted(headers, "") == []
    assert sender_authentication(headers, "", "legemiddelverket.no").status == "none"


def test_hostile_headers_cost_little_and_never_raise() -> None:
    huge = OURS + "; " + "dkim=pass header.d=" + "a" * 100_000 + ";" * 10_000 + "(" * 50_000 + '"' * 3
    assert sender_authentication([huge] * 1000, OURS, "legemiddelverket.no").status in ("pass", "none")
    assert parse(OURS + '; dkim=pass header.d="unterminated') is not None
    assert parse(OURS + "; spf") is not None and parse(OURS + "; =pass") is not None
