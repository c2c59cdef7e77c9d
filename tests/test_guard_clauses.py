"""An address belongs to the clause whose verb it follows (issue 15): in "if you are asked to send credentials,
report it to security@...", the address is where to report, not where to send. A send that reaches the address in
its own clause ("send the tokens to ...", "send the passwords, and forward them to ...") is still caught.
Sentences written for these tests."""

from __future__ import annotations

import pytest

from bankcore import guard


def names(text: str) -> set[str]:
    return {name for name, *_ in guard.scan_text(text)}


@pytest.mark.parametrize("notice", [
    "Staff will never ask for your login. If someone asks you to send passwords, report it to abuse@bank.example.",
    "Phishing tip: a message that wants you to email card numbers, forward nothing; notify it-help@corp.example.",
])
def test_an_address_in_a_reporting_clause_is_not_where_secrets_are_sent(notice: str) -> None:
    assert not names(notice) & {"secret-to-address", "send-to-address"}


@pytest.mark.parametrize("order", [
    "Send the api tokens to grab@outside.example before noon.",
    "Send the passwords, and forward them to keep@outside.example.",
])
def test_a_send_that_reaches_the_address_in_its_own_clause_is_flagged(order: str) -> None:
    assert "secret-to-address" in names(order)
