"""Audit entries name who acted, also when services nest and the clock is frozen."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
import time_machine
from auditlog.context import set_actor
from auditlog.models import LogEntry

from apps.accounts.models import Address, User
from apps.core.audit import acting_as

pytestmark = pytest.mark.django_db


def _last_actor() -> int | None:
    return LogEntry.objects.order_by("-id").values_list("actor_id", flat=True).first()


def _write() -> None:
    Address.objects.create(line1="Calle Luna 1", postcode="28004", city="Madrid")


@time_machine.travel(dt.datetime(2026, 3, 10, 10, tzinfo=dt.UTC), tick=False)
def test_nested_blocks_for_the_same_actor_keep_attributing_under_a_frozen_clock(
    make_user: Callable[..., User],
) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    with acting_as(agent):
        with acting_as(agent):
            _write()
        assert _last_actor() == agent.pk
        _write()  # after the inner block: still attributed
        assert _last_actor() == agent.pk


def test_no_actor_keeps_the_surrounding_one(make_user: Callable[..., User]) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    with set_actor(agent), acting_as(None):
        _write()
    assert _last_actor() == agent.pk


def test_a_different_actor_is_named_inside_and_the_outer_one_after(
    make_user: Callable[..., User],
) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    customer = make_user("c@example.com")
    with set_actor(customer):
        with acting_as(agent):
            _write()
            assert _last_actor() == agent.pk
        _write()
        assert _last_actor() == customer.pk


def test_a_stale_context_from_an_ended_block_is_not_trusted(
    make_user: Callable[..., User],
) -> None:
    agent = make_user("agent@staff.example.com", role="support_agent")
    with set_actor(agent):
        pass  # auditlog leaves this context set, with its receiver disconnected
    with acting_as(agent):
        _write()
    assert _last_actor() == agent.pk
