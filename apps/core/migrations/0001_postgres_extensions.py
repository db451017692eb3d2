from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations


class Migration(migrations.Migration):
    """Extensions the schema relies on: btree_gist for exclusion constraints on ids + ranges."""

    dependencies: list[tuple[str, str]] = []
    operations = [BtreeGistExtension()]
