"""Booking codes: typable, unambiguous, unguessable, normalised on input."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telemedroom.scheduling import new_booking_code, normalize_booking_code
from telemedroom.scheduling._codes import ALPHABET, CODE_LENGTH


def test_the_alphabet_has_no_confusable_characters() -> None:
    assert set(ALPHABET).isdisjoint(set("0O1IL2Z5S8BDQUV"))
    assert len(set(ALPHABET)) == len(ALPHABET) == 21


def test_codes_are_well_formed_and_do_not_repeat() -> None:
    codes = [new_booking_code() for _ in range(2000)]
    assert len(set(codes)) == len(codes)
    for code in codes:
        raw = code.replace("-", "")
        assert len(raw) == CODE_LENGTH
        assert set(raw) <= set(ALPHABET)
        assert code[4] == "-"
    # every character of the alphabet is drawn (secrets.choice, uniform)
    assert set("".join(codes).replace("-", "")) == set(ALPHABET)


@given(
    st.text(alphabet=ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH), st.sampled_from(["", " ", "-"])
)
def test_typed_codes_normalise_to_the_canonical_form(raw: str, sep: str) -> None:
    canonical = f"{raw[:4]}-{raw[4:]}"
    typed = f"  {raw[:4].lower()}{sep}{raw[4:]} "
    assert normalize_booking_code(typed) == canonical
    assert normalize_booking_code(canonical) == canonical
