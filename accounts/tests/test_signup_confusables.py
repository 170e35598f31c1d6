"""
Sign-up refuses a username that could pass for one already taken (Unicode
look-alikes, other letter case) and one holding invisible or format
characters, each with a clear message in Russian.
"""

import pytest
from django.contrib.auth import get_user_model

from accounts.forms import SignupForm
from accounts.usernames import confusable_username, skeletons

from .conftest import PASSWORD

LOOKS_TAKEN = "Это имя выглядит так же, как имя другого пользователя"
INVISIBLE = "Имя пользователя не может содержать невидимые и управляющие символы"
TAKEN = "Пользователь с таким именем уже существует."


def sign_up(client, username: str):
    return client.post(
        "/accounts/signup/",
        {"username": username, "password1": PASSWORD, "password2": PASSWORD},
    )


def username_errors(username: str) -> list[str]:
    form = SignupForm({"username": username, "password1": PASSWORD, "password2": PASSWORD})
    form.is_valid()
    return form.errors.get("username", [])


@pytest.fixture
def taken(django_user_model, db):
    for name in ("anna", "copa", "boris1", "Ivan"):
        django_user_model.objects.create_user(username=name)


@pytest.mark.parametrize(
    "username",
    [
        "\u0430nna",  # Cyrillic а
        "ann\u0430",
        "\u0410NNA",  # Cyrillic А, the rest Latin capitals
        "\u0441\u043e\u0440\u0430",  # сора, all Cyrillic, looks like "copa"
        "borisl",  # l for 1
        "lvan",  # l for I
        "ｂｏｒｉｓl",  # fullwidth letters, folded by NFKC, and l for 1
    ],
)
def test_a_look_alike_of_a_taken_name_is_refused(client, taken, username):
    response = sign_up(client, username)
    assert response.status_code == 200
    assert LOOKS_TAKEN in response.content.decode()
    assert get_user_model().objects.count() == 4


@pytest.mark.parametrize("username", ["Anna", "ANNA", "COPA", "ivan"])
def test_a_taken_name_in_another_case_is_refused(client, taken, username):
    response = sign_up(client, username)
    assert response.status_code == 200
    assert TAKEN in response.content.decode()
    assert get_user_model().objects.count() == 4


@pytest.mark.parametrize(
    "username",
    [
        "anna\u200b",  # zero-width space
        "an\u200dna",  # zero-width joiner
        "\u202eanna",  # right-to-left override
        "anna\u2066",  # left-to-right isolate
        "an\u00adna",  # soft hyphen
        "ann\u3164a",  # Hangul filler: a letter to Django's validator
        "anna\ufe0f",  # variation selector
        "new\u200cname",  # invisible even where nothing looks like it
    ],
)
def test_invisible_or_format_characters_are_refused(client, taken, username):
    response = sign_up(client, username)
    content = response.content.decode()
    assert response.status_code == 200
    assert INVISIBLE in content
    # One clear message, not Django's generic one about allowed characters as well.
    assert username_errors(username) == [
        "Имя пользователя не может содержать невидимые и управляющие символы "
        "(пробелы нулевой ширины, знаки направления текста и подобные)."
    ]
    assert get_user_model().objects.count() == 4


@pytest.mark.parametrize("username", ["анна", "anna2", "anna_b", "Иван", "boris", "copa.b"])
def test_names_that_only_resemble_are_accepted(client, taken, username):
    # анна is Cyrillic throughout, and н does not look like n.
    response = sign_up(client, username)
    assert response.status_code == 302
    assert get_user_model().objects.filter(username=username).exists()


def test_skeletons_are_unicodes_the_same_for_look_alikes():
    assert skeletons("\u0430nna") == skeletons("anna")
    assert skeletons("Anna") & skeletons("anna")
    assert not skeletons("анна") & skeletons("anna")


def test_confusable_username_names_the_taken_one(taken):
    assert confusable_username("\u0430nna") == "anna"
    assert confusable_username("\u0441\u043e\u0440\u0430") == "copa"
    assert confusable_username("someone") is None
