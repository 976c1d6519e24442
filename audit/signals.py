"""Signals the audit system sends; other apps (the CloudWatch outbox) listen."""

from django.dispatch import Signal

# Sent inside the transaction that stored records, with ``records``: a list of
# ``audit.storage.StoredRecord``. A receiver that writes in the same transaction
# (an outbox) is stored or rolled back with the records.
records_stored = Signal()

# Sent after ``EventType.objects.filter(...).update(...)``, which sends no ``post_save``:
# the switches' cached rules listen (``audit.receivers``), so the model layer does not
# reach up into them.
event_types_updated = Signal()

# Sent by the retention purge once it has deleted the records stored before ``cutoff``:
# what keeps figures of them (the analysis rollups) forgets them too.
records_purged = Signal()
