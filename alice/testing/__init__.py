"""
Tools for testing skills: drive a script without HTTP, build protocol requests, check
that a dialog replays (docs/alice.md, "Testing a script").

    from alice.testing import DialogClient
    client = DialogClient(skill, replay=True)
    assert client.start().text == "Добрый день! Как вас зовут?"

For pytest, ``from alice.testing.pytest_plugin import alice_client`` in a conftest.py gives
the ``alice_client`` fixture (no database needed).
"""

from .client import DialogClient, Reply, load_skill
from .replay_check import ReplayCheckFailed, check_replay
from .requests import build_request, button_pressed, event, utterance
from .stores import RecordingMemoryStore

__all__ = [
    "DialogClient",
    "RecordingMemoryStore",
    "ReplayCheckFailed",
    "Reply",
    "build_request",
    "button_pressed",
    "check_replay",
    "event",
    "load_skill",
    "utterance",
]
