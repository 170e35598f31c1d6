"""
Settings of the server processes of the Chromium test (test_browser_skills.py): the
project's, with the shipped scripts, a held guess_number (browser_skills.py) and the
cards of the socket tests as mounted skills.
"""

from myproject.settings import *  # noqa: F403

SKILLCHAT_MOUNTED_SKILLS = {
    "guess_number": "alice.scripts.guess_number.skill",
    "held_guess_number": "skillchat.tests.browser_skills.held_guess_number",
    "cards": "skillchat.tests.skills.cards",
}
