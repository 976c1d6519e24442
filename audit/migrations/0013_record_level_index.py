"""An index for the records list's level filter: ``(level, -id)``.

Without it, asking the admin (or ``GET /api/audit/events/?level=error``) for a rare
level reads the table backwards until it has found a page, and the list's bounded
count reads up to the whole table. With it, both are range scans of the index.

On PostgreSQL the index is built ``CONCURRENTLY``: the records table of a live system
is large, and a plain ``CREATE INDEX`` would block every insert until it is done. That
cannot run inside a transaction, hence ``atomic = False``.
"""

from django.db import migrations, models

INDEX = models.Index(fields=["level", "-id"], name="audit_rec_level")


class AddIndexConcurrentlyOnPostgreSQL(migrations.AddIndex):
    """``AddIndex``, built without locking out writers where the database can."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("audit", "0012_ingest_counters")]
    operations = [AddIndexConcurrentlyOnPostgreSQL(model_name="auditrecord", index=INDEX)]
