from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from privatemessages.management.commands.create_demo_users import DEMO_PASSWORD


@pytest.fixture(autouse=True)
def development_site(settings, fast_password_hashing):
    """The command is for development sites (pytest-django turns DEBUG off)."""
    settings.DEBUG = True


def run(*args) -> str:
    out = StringIO()
    call_command("create_demo_users", *args, stdout=out)
    return out.getvalue()


def test_creates_two_users_who_can_log_in(db, client):
    output = run()
    users = get_user_model().objects.order_by("username")
    assert [u.username for u in users] == ["anna", "boris"]
    assert all(u.check_password(DEMO_PASSWORD) for u in users)
    assert "anna" in output
    assert DEMO_PASSWORD in output
    assert "/accounts/login/" in output
    assert client.login(username="anna", password=DEMO_PASSWORD)


def test_running_it_again_changes_nothing(db):
    run()
    before = list(get_user_model().objects.values_list("pk", "username", "password"))
    output = run()
    assert list(get_user_model().objects.values_list("pk", "username", "password")) == before
    assert "already exists" in output


def test_a_changed_password_is_left_alone(db):
    run()
    anna = get_user_model().objects.get(username="anna")
    anna.set_password("her-own-secret-456")
    anna.save()
    assert "left unchanged" in run()
    anna.refresh_from_db()
    assert anna.check_password("her-own-secret-456")


def test_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        run()
    assert not get_user_model().objects.exists()
    run("--force")
    assert get_user_model().objects.count() == 2
