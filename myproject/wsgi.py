"""
WSGI entry point (granian, gunicorn...): the site, with the Alice webhooks answered first.

alice/wsgi_mount.py says what the webhooks skip and keep; every other request is Django's.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

django_application = get_wsgi_application()

from alice.wsgi_mount import with_alice_webhooks  # noqa: E402  (needs the settings loaded)

application = with_alice_webhooks(django_application)
