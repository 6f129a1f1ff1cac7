"""Settings come from SHOPFLOW_ environment variables; durations take seconds or ISO 8601."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from shopflow.settings import Settings


def test_durations_accept_seconds_and_iso8601(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_FEEDBACK_DELAY", "90")
    monkeypatch.setenv("SHOPFLOW_TASK_DUE", "PT1H")
    monkeypatch.setenv("SHOPFLOW_SAMPLE_INFO_TIMEOUT", "P3D")
    monkeypatch.setenv("SHOPFLOW_PAYMENT_TIMEOUT", "1.5")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.feedback_delay == timedelta(seconds=90)
    assert s.task_due == timedelta(hours=1)
    assert s.sample_info_timeout == timedelta(days=3)
    assert s.payment_timeout == timedelta(seconds=1.5)
    assert s.feedback_close == timedelta(days=14)  # the default


def test_bad_duration_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPFLOW_TASK_DUE", "soon")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_remote_cluster_means_no_embedded_server(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).embedded_temporal  # type: ignore[call-arg]
    monkeypatch.setenv("SHOPFLOW_TEMPORAL_ADDRESS", "temporal.internal:7233")
    assert not Settings(_env_file=None).embedded_temporal  # type: ignore[call-arg]


def test_notice_send_timeout_is_a_duration_longer_than_an_smtp_step(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).notice_send_timeout == timedelta(seconds=60)  # type: ignore[call-arg]
    monkeypatch.setenv("SHOPFLOW_NOTICE_SEND_TIMEOUT", "PT10S")
    assert Settings(_env_file=None).notice_send_timeout == timedelta(seconds=10)  # type: ignore[call-arg]
    monkeypatch.setenv("SHOPFLOW_SMTP_HOST", "mail.example.com")  # 20 s per SMTP step
    with pytest.raises(ValidationError, match="longer than smtp_timeout"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("SHOPFLOW_SMTP_TIMEOUT", "5")
    assert Settings(_env_file=None).notice_send_timeout == timedelta(seconds=10)  # type: ignore[call-arg]
    monkeypatch.setenv("SHOPFLOW_NOTICE_SEND_TIMEOUT", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]
