"""Export of chosen audit event types to Amazon CloudWatch Logs ("Settings -> Log").

Records whose type is mapped to a log stream enter an outbox in the transaction that
stores them (a PostgreSQL trigger, or a ``records_stored`` receiver elsewhere); a
Celery beat task, or ``manage.py cloudwatch_export``, drains the outbox in batches
that respect PutLogEvents' limits. A record leaves the outbox only once CloudWatch has
accepted it, so delivery is at least once and every message carries the record id.
"""
