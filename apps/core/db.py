"""Small database expressions shared by several apps' models."""

from __future__ import annotations

from django.db import models
from django.db.models import Func


class DateRange(Func):
    """PostgreSQL ``daterange(lower, upper)``: half-open [lower, upper), open-ended when
    upper is NULL. Used inside exclusion constraints that forbid overlapping periods."""

    function = "daterange"
    output_field = models.DateField()  # only used inside exclusion constraints
