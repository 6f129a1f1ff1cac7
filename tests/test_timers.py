"""services.timers: the one helper that copies a process's clocks from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from shopflow.services.timers import timers_for
from shopflow.settings import Settings
from shopflow.workflows.order_fulfilment import OrderTimers
from shopflow.workflows.return_handling import ReturnTimers


def _settings() -> Settings:
    return Settings(env="test", task_due=timedelta(hours=5), payment_timeout=timedelta(minutes=9),
                    backorder_timeout=timedelta(days=2), feedback_delay=timedelta(days=4),
                    notice_send_timeout=timedelta(seconds=45),
                    return_ship_timeout=timedelta(days=6))


def test_order_timers_are_the_settings_durations() -> None:
    t = timers_for(OrderTimers, _settings())
    assert t == OrderTimers(task_due=timedelta(hours=5), payment_timeout=timedelta(minutes=9),
                            backorder_timeout=timedelta(days=2),
                            followup_delay=timedelta(days=4),
                            notice_send=timedelta(seconds=45),
                            history_limit=2000)  # a count, copied as it is


def test_a_given_duration_wins_over_the_setting() -> None:
    t = timers_for(ReturnTimers, _settings(), ship_timeout=timedelta(days=1))
    assert t.ship_timeout == timedelta(days=1)
    assert t.backorder_timeout == timedelta(days=2)
    assert timers_for(ReturnTimers, _settings()).ship_timeout == timedelta(days=6)


def test_float_fields_get_seconds() -> None:
    @dataclass
    class Old:
        task_due: float
        info_timeout: float

    t = timers_for(Old, Settings(env="test", task_due=timedelta(hours=1),
                                 sample_info_timeout=timedelta(days=1)))
    assert t == Old(3600.0, 86400.0)


def test_unknown_timers_are_refused() -> None:
    @dataclass
    class Odd:
        nothing_like_this: timedelta

    with pytest.raises(LookupError):
        timers_for(Odd, _settings())
    with pytest.raises(TypeError):
        timers_for(OrderTimers, _settings(), typo=timedelta(1))


def test_sample_timers_take_the_low_score_as_a_count() -> None:
    from shopflow.workflows.sample_approval import SampleTimers

    t = timers_for(SampleTimers, Settings(env="test", sample_feedback_low_score=1))
    assert t.low_score == 1 and t.feedback_delay == timedelta(days=7).total_seconds()
