from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.metering.headends import HeadEndNameTaken, headend_issue_token


class Command(BaseCommand):
    help = "Register a meter head-end system and print its API token (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            system, token = headend_issue_token(name=options["name"])
        except HeadEndNameTaken as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"head-end {system.name} registered; its token (store it now):")
        self.stdout.write(token)
