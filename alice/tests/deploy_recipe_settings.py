"""Settings of the clusters test_deploy_recipe.py starts: the project's, and a slow skill."""

from myproject.settings import *  # noqa: F403

ROOT_URLCONF = "alice.tests.deploy_recipe_urls"
