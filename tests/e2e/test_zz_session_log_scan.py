"""The logs of the whole test session hold no password, token or secret key (see tests/log_scan.py)."""

from __future__ import annotations

import pytest

from tests.log_scan import SESSION_LOGS, SessionLogs, find_leaks


def test_logs_of_the_whole_session_hold_no_secret() -> None:
    # Run alone there is nothing to scan: the plugin needs the HTTP tests before it.
    if len(SESSION_LOGS.secrets) < 20:
        pytest.skip("the session ran too few HTTP tests to collect secrets to look for")
    assert SESSION_LOGS.lines, "no log line was captured: the capture is broken"
    assert find_leaks(SESSION_LOGS) == []


def test_the_scan_reports_a_planted_secret_by_kind_and_logger() -> None:
    logs = SessionLogs()
    logs.remember_body({"user": {"password": "correct horse battery"}, "name": "not a secret"}, "request")
    logs.remember("pca_" + "x" * 40, "bearer token")
    logs.lines += [
        ("primecloud", '{"message":"login","email":"a@b.c"}'),
        ("botocore", "sending pca_" + "x" * 40),
        ("primecloud", "password=correct horse battery"),
    ]
    assert find_leaks(logs) == [
        "bearer token in a log line of botocore",
        "request field 'password' in a log line of primecloud",
    ]
    assert "not a secret" not in logs.secrets
