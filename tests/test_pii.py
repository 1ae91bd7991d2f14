"""Norwegian identity numbers: both mod-11 check digits, inside ordinary text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from intake.decide.pii import find_identity_numbers, is_identity_number


def test_valid_numbers_pass_both_checks() -> None:
    # Synthetic numbers from the public test series, plus a D-number (first digit + 4).
    for number in ("01019012057", "15076500565", "41019000077"):
        assert is_identity_number(number), number


def test_wrong_check_digits_fail() -> None:
    assert not is_identity_number("01019012058")
    assert not is_identity_number("01019012067")
    assert not is_identity_number("0101901205")
    assert not is_identity_number("0101901205a")


def test_found_in_text_masked_and_not_inside_longer_numbers() -> None:
    text = "Fnr 010190 12057 og 15076500565. Konto 1234015076500565999. Tlf 22 33 44 55."
    found = find_identity_numbers(text)
    assert [f.masked for f in found] == ["010190*****", "150765*****"]
    assert text[found[0].start : found[0].end] == "010190 12057"


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_a_changed_last_digit_never_passes(number: str) -> None:
    if is_identity_number(number):
        changed = number[:10] + str((int(number[10]) + 1) % 10)
        assert not is_identity_number(changed)
