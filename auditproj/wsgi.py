"""WSGI entry point: ``gunicorn auditproj.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "auditproj.settings")
application = get_wsgi_application()
