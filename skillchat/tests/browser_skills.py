"""
The skills the Chromium test's server processes run (browser_settings.py): the shipped
``guess_number`` script, held while the test holds it. The test's process cannot reach
into a server process, so the hold is a file both see: while it exists, the skill waits
before answering, and the test can watch the page show the skill typing meanwhile.
"""

import os
import threading
from pathlib import Path
from typing import Any

from alice import Skill
from alice.scripts import guess_number

# Set by the test for its server processes (browser_settings.py reads nothing else).
HOLD_ENV = "SKILLCHAT_BROWSER_HOLD"
# A forgotten hold ends here, so that a failed test never leaves a worker stuck.
LONGEST_HOLD = 60.0
# How often a held skill looks at the hold file again.
LOOK_EVERY = 0.05


class HeldSkill(Skill):
    """A skill that waits, before each answer, while the file named by HOLD_ENV exists."""

    def respond(self, data: dict[str, Any]) -> dict[str, Any]:
        hold = os.environ.get(HOLD_ENV)
        if hold:
            path = Path(hold)
            wake = threading.Event()
            waited = 0.0
            while path.exists() and waited < LONGEST_HOLD:
                wake.wait(LOOK_EVERY)
                waited += LOOK_EVERY
        return super().respond(data)


held_guess_number = HeldSkill("skillchat.tests.held_guess_number", deadline=float("inf"))
held_guess_number.script(guess_number.run_script)
