"""
URLs of the clusters test_deploy_recipe.py starts: the shipped skills, and under /alice/ (the
only path the recipe's nginx passes on) a skill that answers later than nginx waits.
"""

import math
import time

from django.urls import include, path

from alice import Skill, say
from alice.views import webhook_view

# Longer than the recipe's proxy_read_timeout (deploy/alice/nginx.conf.template).
SLOW_SECONDS = 6.5

# Waits for the store past nginx's timeout too: on SQLite (the embedded defaults) one slow
# dialog holds the database's one write lock, and the other must still reach nginx's 504,
# not give up on the store first; so without the deadline guard, which would answer it
# busy_text by ALICE_DEADLINE.
late = Skill(
    "alice.tests.deploy_recipe_urls.late", lock_timeout=2 * SLOW_SECONDS, deadline=math.inf
)


@late.script
def answer_late():
    """Answer each request after SLOW_SECONDS: nginx gives up on it first."""
    while True:
        time.sleep(SLOW_SECONDS)
        yield say("late")


urlpatterns = [
    path("alice/late/", webhook_view(late)),
    path("alice/", include("alice.urls")),
]
