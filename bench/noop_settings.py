"""Settings for ``bench/activity_http.py`` only: the project's own, with the URLs of
``bench.noop_urls`` (the project's, plus an authenticated no-op API view).

The no-op view is the baseline that benchmark measures the activity pages against, in
the same run, through the same server and middleware; it must never be one of the
project's own URLs, so it lives here and nothing outside the benchmark loads it.
"""

from auditproj.settings import *  # noqa: F403

ROOT_URLCONF = "bench.noop_urls"
