"""invoicing.render_pdf with non-Latin text: the embedded fonts draw every script, nothing becomes '?'."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from primecloud.models.billing import InvoiceLine
from primecloud.services.billing import invoicing

NOW = datetime(2026, 3, 15, 10, 30, tzinfo=UTC)
GREEK, CYRILLIC, CJK, ARABIC, HANGUL = "Ωμέγα", "Привет", "東京", "مرحبا", "서울"


def _data(billing_name: str, address: list[str], descriptions: list[str]) -> invoicing.DocumentData:
    lines = [
        InvoiceLine(position=position, description=text, quantity=Decimal(1), unit_price=Decimal("2.50"))
        for position, text in enumerate(descriptions, start=1)
    ]
    for line in lines:
        line.amount = Decimal("2.50")
    subtotal = Decimal("2.50") * len(lines)
    return invoicing.DocumentData(
        number="INV-2026-000042",
        kind="order",
        status="open",
        currency="EUR",
        issued_at=NOW,
        due_at=NOW + timedelta(days=14),
        period_start=None,
        period_end=None,
        seller_name="PrimeCloud",
        seller_contact=["https://primecloud.example"],
        billing_name=billing_name,
        billing_email="billing@example.test",
        billing_address=address,
        lines=lines,
        subtotal=subtotal,
        tax=Decimal("0.00"),
        tax_rate=Decimal(0),
        total=subtotal,
    )


def _text_and_fonts(pdf: bytes) -> tuple[str, set[str]]:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    resources: Any = page["/Resources"]  # the embedded fonts, named without their subset prefix
    fonts = {str(font["/BaseFont"]).split("+")[-1] for font in resources["/Font"].values()}
    return page.extract_text(), fonts


def test_greek_cyrillic_cjk_and_arabic_names_render(caplog: pytest.LogCaptureFixture) -> None:
    data = _data(
        billing_name=f"{GREEK} {CYRILLIC} {CJK} {ARABIC} GmbH",
        address=[f"ул. {CYRILLIC} 7", f"{CJK}都千代田区", f"شارع {ARABIC} 5", f"{HANGUL} 중구"],
        descriptions=[f"Storage {GREEK}", f"VPS {CJK} \u2014 first month", f"Backup {ARABIC}", f"{CYRILLIC} €"],
    )

    with caplog.at_level(logging.WARNING, logger="fpdf"):
        pdf = invoicing.render_pdf(data)

    text, fonts = _text_and_fonts(pdf)
    assert "?" not in text
    # Arabic is shaped and laid out right to left; the extractor reads it back in logical order but
    # spaces the boundary of a right-to-left run as it likes, so Arabic words are checked on their own.
    for expected in (
        f"{GREEK} {CYRILLIC} {CJK}",
        "GmbH",
        f"ул. {CYRILLIC} 7",
        f"{CJK}都千代田区",
        f"{HANGUL} 중구",
        f"Storage {GREEK}",
        f"VPS {CJK} \u2014 first month",
        f"{CYRILLIC} €",
        ARABIC,
        "شارع",
    ):
        assert expected in text, expected
    assert fonts == {"DejaVuSansBook", "DejaVuSansBold", "WenQuanYiMicroHei"}
    assert not [record for record in caplog.records if "missing" in record.getMessage()]  # no tofu either


def test_a_latin_invoice_does_not_load_the_cjk_font() -> None:
    pdf = invoicing.render_pdf(_data("Müller Hosting", ["Hauptstr. 1", "Berlin"], ["VPS Small \u2014 first month"]))

    text, fonts = _text_and_fonts(pdf)
    assert "Müller Hosting" in text and "VPS Small \u2014 first month" in text
    assert fonts == {"DejaVuSansBook", "DejaVuSansBold"}
