"""Issue 13: every answer the shipped scripts, the engine's own canned answers and the docs'
examples give is a protocol answer: one schema with its limits (alice.testing.conformance)."""

import json
import random
import uuid

import pytest

from alice.engine import MemorySessionStore
from alice.scripts import acquaintance, guess_number, pet_gift
from alice.testing import DialogClient, RecordingMemoryStore
from alice.testing.conformance import ConformanceError, answer_errors, check_answer
from alice.tests import skills

from .conftest import SAMPLES_DIR
from .test_docs import MODULES, load
from .test_engine import request_for

SHIPPED = [acquaintance.skill, guess_number.skill, pet_gift.skill]
WORDS = ["Саша", "25", "двадцать", "кошки", "собаки", "да", "нет", "ага", "не знаю", "", "50"]


def random_walk(skill, seed: int) -> list[dict]:
    """A dialog of random utterances and taps, replayed on every request; its answers."""
    chooser = random.Random(seed)
    client = DialogClient(skill, replay=True)
    answers = [client.start().raw]
    for _ in range(40):
        if client.reply.end_session:
            break
        if client.reply.buttons and chooser.random() < 0.5:
            client.press(chooser.choice(client.reply.titles))
        else:
            client.say(chooser.choice(WORDS))
        answers.append(client.reply.raw)
    return answers


@pytest.mark.parametrize("skill", SHIPPED, ids=lambda skill: skill.name)
@pytest.mark.parametrize("seed", range(8))
def test_the_shipped_scripts_answer_by_the_protocol(skill, seed):
    for answer in random_walk(skill, seed):
        check_answer(answer)


@pytest.mark.parametrize(
    "block",
    [block for block in MODULES if "Skill(__name__)" in block.code],
    ids=lambda block: f"line {block.line}",
)
def test_the_docs_examples_answer_by_the_protocol(block):
    skill = load(block).skill
    for seed in range(3):
        for answer in random_walk(skill, seed):
            check_answer(answer)


def test_the_engines_own_answers_follow_the_protocol():
    """Ping, the closing, apology, busy, too-long, lost and placeholder answers."""
    answers = [DialogClient(acquaintance.skill).ping().raw]
    for skill in (skills.unfinished, skills.failing, skills.oversized):
        answers += [reply.raw for reply in DialogClient(skill).dialog("a", "b", "c")]
    capped = DialogClient(skills.counter.using(RecordingMemoryStore(max_turns=2)))
    answers += [reply.raw for reply in capped.dialog("a", "b")]
    store = RecordingMemoryStore()
    lost = DialogClient(skills.counter.using(store))
    lost.dialog("a")
    stored, turns = store._records[lost.session_id]
    store._records[lost.session_id] = (stored, turns[:-1])
    answers.append(lost.say("b").raw)
    busy = skills.impatient.using(MemorySessionStore())
    session_id = str(uuid.uuid4())
    with busy.store.lock(session_id):
        answers.append(busy.handle(request_for(session_id, 0, new=True)))
    for answer in answers:
        check_answer(answer)


@pytest.mark.parametrize(
    "path",
    [
        *(path for path in sorted(SAMPLES_DIR.glob("0*.json")) if not path.name.startswith("09")),
        *sorted((SAMPLES_DIR / "events").glob("*.json")),
    ],
    ids=lambda path: path.stem,
)
def test_the_answers_to_the_samples_follow_the_protocol(path):
    data = json.loads(path.read_text())
    for skill in SHIPPED:
        answer = skill.using(MemorySessionStore()).handle(data)
        check_answer(answer, request_type=data["request"].get("type", "SimpleUtterance"))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"response": {"text": "a", "end_session": False}}, "'version' is a required"),
        ({"response": {"end_session": False}, "version": "1.0"}, "text and response.end"),
        ({"response": {"text": "", "end_session": False}, "version": "1.0"}, "only with a tts"),
        ({"response": {"text": "a" * 1025, "end_session": False}, "version": "1.0"}, "long"),
        (
            {
                "response": {"text": "a", "end_session": False, "session_state": {}},
                "version": "1.0",
            },
            "Additional properties",
        ),
        (
            {
                "response": {"text": "a", "end_session": False, "card": {"type": "Big"}},
                "version": "1.0",
            },
            "response.card",
        ),
        (
            {
                "response": {"text": "a", "end_session": False},
                "version": "1.0",
                "session_state": {"x": "y" * 1100},
            },
            "session_state is over 1024 bytes",
        ),
        (
            {
                "response": {
                    "text": "a",
                    "end_session": False,
                    "buttons": [{"title": "t", "payload": {"x": "y" * 4100}}],
                },
                "version": "1.0",
            },
            "payload is over 4096",
        ),
    ],
)
def test_the_schema_refuses_what_dialogs_refuses(answer, error):
    assert any(error in message for message in answer_errors(answer)), answer_errors(answer)
    with pytest.raises(ConformanceError):
        check_answer(answer)
