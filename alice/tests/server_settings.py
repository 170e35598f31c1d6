"""Settings of the server processes that test_servers.py starts: the project's, test URLs."""

from myproject.settings import *  # noqa: F403

# The shipped skills at /alice/..., and the test skills (e.g. the slow counter) at /test/...
ROOT_URLCONF = "alice.tests.urls"
