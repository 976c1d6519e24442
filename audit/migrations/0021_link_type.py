"""Each link keeps a copy of its record's type, and an index ``(content type, object,
type, record DESC)``: a panel filtered by type reads only the entity's links of those
types, in order, where it read a window of 2,000 links and their records.

Steps, for a live system: the column is added empty; the storing functions write it
from then on; the links already stored get it in batches of ``BATCH`` (each batch its
own transaction, the append-only guard switched off for that batch only, which only the
tables' owner, who runs migrations, may do); then it becomes NOT NULL, and the index is
built without blocking writers on PostgreSQL. The type copy is not sealed: seals cover
the record's type, and ``audit_verify`` checks the copy against it.
"""

import importlib

from django.db import migrations, models, transaction
from django.db.models import Max, Min, OuterRef, Subquery

from audit import sql

BATCH = 50_000
_concurrent = importlib.import_module("audit.migrations.0013_record_level_index")


def store_the_type(apps, schema_editor):
    sql.execute(schema_editor, sql.INSERT_RECORDS_0021, sql.INSERT_RECORD_0021)


def _without_type(definition: str, *cuts: str) -> str:
    """``definition`` without the type it writes: each cut ends with ``, ...type_id``."""
    for cut in cuts:
        assert definition.count(cut) == 1, f"{cut!r} is not once in the function any more"
        definition = definition.replace(cut, cut.rsplit(", ", 1)[0])
    return definition


def store_without_the_type(apps, schema_editor):
    """Back to the functions of 0020, which write links without a type."""
    sql.execute(
        schema_editor,
        _without_type(
            sql.INSERT_RECORDS_0021,
            "audit_auditrecord.created_at, audit_auditrecord.type_id",
            "created_at, type_id",
            "inserted.created_at, inserted.type_id",
        ),
        _without_type(sql.INSERT_RECORD_0021, "created_at, type_id", "p_created_at, p_type_id"),
    )


def fill_from_records(apps, schema_editor, column: str) -> None:
    """Copy each record's ``column`` onto its links that have none yet, in batches of
    ``BATCH`` links, each its own transaction (on PostgreSQL with the append-only guard
    off for that batch only). A record without a value leaves its links without one.
    Migration 0022 fills the links' user with it too."""
    connection = schema_editor.connection
    link = apps.get_model("audit", "EntityLink")
    record = apps.get_model("audit", "AuditRecord")
    bounds = link.objects.using(connection.alias).aggregate(low=Min("id"), high=Max("id"))
    if bounds["low"] is None:
        return
    for low in range(bounds["low"], bounds["high"] + 1, BATCH):
        high = low + BATCH - 1
        with transaction.atomic(using=connection.alias):
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "ALTER TABLE audit_entitylink DISABLE TRIGGER audit_entitylink_append_only"
                    )
                    cursor.execute(
                        f"UPDATE audit_entitylink l SET {column} = r.{column} "
                        "FROM audit_auditrecord r WHERE r.id = l.record_id "
                        f"AND r.{column} IS NOT NULL AND l.{column} IS NULL "
                        "AND l.id BETWEEN %s AND %s",
                        [low, high],
                    )
                    cursor.execute(
                        "ALTER TABLE audit_entitylink ENABLE TRIGGER audit_entitylink_append_only"
                    )
                continue
            values = record.objects.filter(pk=OuterRef("record_id")).values(column)[:1]
            link.objects.using(connection.alias).filter(
                id__gte=low, id__lte=high, **{f"{column}__isnull": True}
            ).update(**{column: Subquery(values)})


def fill(apps, schema_editor):
    fill_from_records(apps, schema_editor, "type_id")


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("audit", "0020_seal_form_binary")]
    operations = [
        migrations.AddField(
            model_name="entitylink",
            name="type",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=models.DO_NOTHING,
                related_name="+",
                to="audit.eventtype",
            ),
        ),
        migrations.RunPython(store_the_type, store_without_the_type),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="entitylink",
            name="type",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.DO_NOTHING,
                related_name="+",
                to="audit.eventtype",
            ),
        ),
        _concurrent.AddIndexConcurrentlyOnPostgreSQL(
            model_name="entitylink",
            index=models.Index(
                fields=["content_type", "object_id", "type", "-record"],
                name="audit_link_entity_type",
            ),
        ),
    ]
