"""Settings of the exporter processes that tests start (``manage.py cloudwatch_export
--settings tests.cloudwatch_worker_settings``): the project's own, plus any
``CLOUDWATCH_EXPORT_*`` tunable given in the environment, which the project reads from
Django settings only."""

import os

from auditproj.settings import *  # noqa: F403

for _name, _value in os.environ.items():
    if _name.startswith("CLOUDWATCH_EXPORT_") and _name != "CLOUDWATCH_EXPORT_INTERVAL":
        globals()[_name] = float(_value)
