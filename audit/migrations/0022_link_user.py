"""Each link keeps a copy of its record's user, and an index ``(content type, object,
user, record DESC)``: a panel filtered by a user reads only that user's links to the
entity, in order, where it read a window of 2,000 links and their records (and showed
a short page, or none, when the user acted there rarely).

The steps are 0021's, for a live system: the column is added (empty: a record without a
user keeps none); the storing functions write it from then on; the links already stored
get it in batches of 50,000 (0021's fill), each batch its own transaction with the append-only
guard off for that batch only (the tables' owner runs migrations); the index is built
without blocking writers on PostgreSQL. Not sealed: ``audit_verify`` checks the copy
against the record's user, which is.
"""

import importlib

from django.conf import settings
from django.db import migrations, models

from audit import sql

_concurrent = importlib.import_module("audit.migrations.0013_record_level_index")
_link_type = importlib.import_module("audit.migrations.0021_link_type")  # its batched fill


def store_the_user(apps, schema_editor):
    sql.execute(schema_editor, sql.INSERT_RECORDS, sql.INSERT_RECORD)


def store_without_the_user(apps, schema_editor):
    sql.execute(schema_editor, sql.INSERT_RECORDS_0021, sql.INSERT_RECORD_0021)


def fill(apps, schema_editor):
    _link_type.fill_from_records(apps, schema_editor, "user_id")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("audit", "0021_link_type"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    operations = [
        migrations.AddField(
            model_name="entitylink",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=models.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(store_the_user, store_without_the_user),
        migrations.RunPython(fill, migrations.RunPython.noop),
        _concurrent.AddIndexConcurrentlyOnPostgreSQL(
            model_name="entitylink",
            index=models.Index(
                fields=["content_type", "object_id", "user", "-record"],
                name="audit_link_entity_user",
            ),
        ),
    ]
