"""Build the small demo network and connect every loose supply point to it. Idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.outages.services import network_seed_demo


class Command(BaseCommand):
    help = "Create a demo substation, feeders and transformers; connect loose supply points."

    def handle(self, *args: Any, **options: Any) -> None:
        result = network_seed_demo()
        self.stdout.write(
            f"Network: {result['transformers']} transformers; "
            f"{result['connected']} supply points newly connected."
        )
