"""
The limit on password guesses (accounts/throttle.py, accounts/backends.py),
with the counts in Redis and, without it, in the process's memory.
"""

import threading
import time
import uuid
from unittest import mock

import pytest
import redis
from django.contrib.auth import aauthenticate, authenticate
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection
from django.test import Client, RequestFactory
from redis.backoff import NoBackoff
from redis.retry import Retry

from accounts import throttle
from accounts.tests.conftest import PASSWORD

PAIR_LIMIT = 3
ADDRESS_LIMIT = 6
ATTACKER = "203.0.113.9"
OWNER = "198.51.100.7"


@pytest.fixture(params=["redis", "memory"])
def storage(request, settings):
    """Run the test with the counts in Redis (when there is one) and in memory."""
    if request.param == "redis":
        if not settings.REDIS_URL:
            pytest.skip("REDIS_URL is not set")
        # Within the run's prefix, so the run's cleanup removes them; one per
        # test, so that tests do not share counts.
        settings.REDIS_KEY_PREFIX = f"{settings.REDIS_KEY_PREFIX}{uuid.uuid4().hex[:8]}:"
    else:
        settings.REDIS_URL = ""
    return request.param


@pytest.fixture(autouse=True)
def limits(settings):
    settings.LOGIN_THROTTLE_PAIR_LIMIT = PAIR_LIMIT
    settings.LOGIN_THROTTLE_ADDRESS_LIMIT = ADDRESS_LIMIT
    settings.LOGIN_THROTTLE_WINDOW = 300
    settings.LOGIN_THROTTLE_TRUSTED_PROXIES = []
    throttle._memory.clear()
    yield
    throttle._memory.clear()


def post_login(client: Client, username: str, password: str, address: str):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def test_wrong_passwords_at_one_account_are_refused_past_the_pair_limit(storage, user):
    client = Client()
    for _ in range(PAIR_LIMIT):
        response = post_login(client, "anna", "wrong", ATTACKER)
        assert response.status_code == 200
        assert "Слишком много" not in response.content.decode()
    response = post_login(client, "anna", PASSWORD, ATTACKER)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 300
    content = response.content.decode()
    assert "Слишком много неудачных попыток входа" in content
    assert "Попробуйте снова через 5 минут." in content
    assert 'id="login-form"' in content
    assert "_auth_user_id" not in client.session


def test_a_refused_attempt_takes_no_query_and_hashes_nothing(
    storage, user, django_assert_num_queries
):
    client = Client()
    for _ in range(PAIR_LIMIT):
        post_login(client, "anna", "wrong", ATTACKER)
    with (
        mock.patch.object(AbstractBaseUser, "check_password") as check,
        mock.patch.object(AbstractBaseUser, "set_password") as hash_password,
        django_assert_num_queries(0),
    ):
        response = post_login(client, "anna", "wrong", ATTACKER)
    assert response.status_code == 429
    check.assert_not_called()
    hash_password.assert_not_called()


def test_a_refused_attempt_with_a_session_cookie_takes_no_query_either(
    storage, user, django_assert_num_queries
):
    client = Client()
    client.cookies["sessionid"] = "x" * 32
    for _ in range(PAIR_LIMIT):
        post_login(client, "anna", "wrong", ATTACKER)
    with django_assert_num_queries(0):
        response = post_login(client, "anna", "wrong", ATTACKER)
    assert response.status_code == 429


def test_the_owner_logs_in_from_her_own_address_while_her_account_is_guessed_at(storage, user):
    attacker = Client()
    for _ in range(PAIR_LIMIT + 2):
        post_login(attacker, "anna", "wrong", ATTACKER)
    assert post_login(attacker, "anna", PASSWORD, ATTACKER).status_code == 429

    owner = Client()
    response = post_login(owner, "anna", PASSWORD, OWNER)
    assert response.status_code == 302
    assert owner.get("/messages/").status_code == 200


def test_guesses_at_many_accounts_from_one_address_stop_at_the_address_limit(storage, user):
    client = Client()
    for n in range(ADDRESS_LIMIT):
        # Unknown usernames cost a hash too, so they count the same.
        assert post_login(client, f"someone{n}", "wrong", ATTACKER).status_code == 200
    assert post_login(client, "anna", PASSWORD, ATTACKER).status_code == 429
    assert post_login(Client(), "anna", PASSWORD, OWNER).status_code == 302


def test_a_successful_log_in_clears_the_pair_count(storage, user):
    client = Client()
    for _ in range(PAIR_LIMIT - 1):
        post_login(client, "anna", "wrong", OWNER)
    assert post_login(client, "anna", PASSWORD, OWNER).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(PAIR_LIMIT):
        assert post_login(client, "anna", "wrong", OWNER).status_code == 200
    assert post_login(client, "anna", PASSWORD, OWNER).status_code == 429


def test_successful_log_ins_do_not_use_up_the_address_limit(storage, user):
    client = Client()
    for _ in range(ADDRESS_LIMIT + 2):
        assert post_login(client, "anna", PASSWORD, OWNER).status_code == 302
        client.post("/accounts/logout/")


def test_the_lockout_ends_with_the_window(storage, settings, user):
    settings.LOGIN_THROTTLE_WINDOW = 1
    client = Client()
    for _ in range(PAIR_LIMIT):
        post_login(client, "anna", "wrong", ATTACKER)
    response = post_login(client, "anna", PASSWORD, ATTACKER)
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "через 1 минуту." in response.content.decode()
    time.sleep(1.1)
    assert post_login(client, "anna", PASSWORD, ATTACKER).status_code == 302


def test_spellings_of_one_username_share_a_count(storage, user):
    client = Client()
    for username in ["anna", "Anna", "ANNA"][:PAIR_LIMIT]:
        post_login(client, username, "wrong", ATTACKER)
    assert post_login(client, "anna", PASSWORD, ATTACKER).status_code == 429


def test_concurrent_attempts_are_counted_before_any_is_checked(storage, db):
    """A burst cannot outrun the count: exactly the limit's worth gets through."""
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=ATTACKER)
    barrier = threading.Barrier(20)
    results = []

    def guess():
        barrier.wait()
        results.append(throttle.attempt(request, "anna"))

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(result is None for result in results) == PAIR_LIMIT
    assert len(results) == 20


def test_the_admin_log_in_is_throttled_too(storage, user):
    client = Client()
    for _ in range(PAIR_LIMIT):
        post_login(client, "anna", "wrong", ATTACKER)
    with mock.patch.object(AbstractBaseUser, "check_password") as check:
        response = client.post(
            "/admin/login/", {"username": "anna", "password": "wrong"}, REMOTE_ADDR=ATTACKER
        )
    assert response.status_code == 200
    check.assert_not_called()


def test_authenticate_without_a_request_is_not_throttled(storage, user):
    for _ in range(PAIR_LIMIT + 1):
        assert authenticate(username="anna", password="wrong") is None
    assert authenticate(username="anna", password=PASSWORD) == user


@pytest.mark.django_db(transaction=True)
async def test_async_authenticate_is_throttled(storage, django_user_model):
    from asgiref.sync import sync_to_async

    await sync_to_async(django_user_model.objects.create_user)(username="anna", password=PASSWORD)
    request = RequestFactory().post("/accounts/login/", REMOTE_ADDR=ATTACKER)
    for _ in range(PAIR_LIMIT):
        assert await aauthenticate(request, username="anna", password="wrong") is None
    assert await aauthenticate(request, username="anna", password=PASSWORD) is None
    assert request.login_throttled.retry_after > 0


def test_redis_failing_falls_back_to_counting_in_memory(settings, user):
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    broken = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    with mock.patch.object(throttle, "get_redis", return_value=broken):
        client = Client()
        for _ in range(PAIR_LIMIT):
            assert post_login(client, "anna", "wrong", ATTACKER).status_code == 200
        assert post_login(client, "anna", PASSWORD, ATTACKER).status_code == 429
        assert post_login(client, "anna", PASSWORD, OWNER).status_code == 302


def test_sessions_logged_in_through_model_backend_stay_valid(user):
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/messages/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_the_password_is_hashed_with_the_connection_back_in_its_pool(django_user_model):
    if not connection.settings_dict["OPTIONS"].get("pool"):
        pytest.skip("needs PostgreSQL with the connection pool (set DATABASE_URL)")
    django_user_model.objects.create_user(username="anna", password=PASSWORD)
    held = []
    real_check = AbstractBaseUser.check_password
    real_hash = AbstractBaseUser.set_password

    def check(self, raw_password):
        held.append(connection.connection is not None)
        return real_check(self, raw_password)

    def hash_password(self, raw_password):
        held.append(connection.connection is not None)
        return real_hash(self, raw_password)

    with (
        mock.patch.object(AbstractBaseUser, "check_password", check),
        mock.patch.object(AbstractBaseUser, "set_password", hash_password),
    ):
        assert post_login(Client(), "anna", "wrong", ATTACKER).status_code == 200
        assert post_login(Client(), "nobody", "wrong", ATTACKER).status_code == 200
        assert post_login(Client(), "anna", PASSWORD, OWNER).status_code == 302
    assert held == [False, False, False]


class TestClientAddress:
    factory = RequestFactory()

    def address(self, remote: str, forwarded: str | None = None) -> str:
        headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
        return throttle.client_address(self.factory.get("/", REMOTE_ADDR=remote, **headers))

    def test_the_peer_address_by_default(self):
        assert self.address("192.0.2.1") == "192.0.2.1"

    def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(self, settings):
        assert self.address("192.0.2.1", "203.0.113.5") == "192.0.2.1"
        settings.LOGIN_THROTTLE_TRUSTED_PROXIES = ["10.0.0.0/8"]
        assert self.address("192.0.2.1", "203.0.113.5") == "192.0.2.1"

    def test_behind_a_trusted_proxy_the_rightmost_untrusted_hop_counts(self, settings):
        settings.LOGIN_THROTTLE_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
        # What the client wrote itself (the first entry) is not believed.
        assert self.address("127.0.0.1", "1.2.3.4, 203.0.113.5, 10.1.2.3") == "203.0.113.5"
        assert self.address("127.0.0.1", "garbage, 203.0.113.5") == "203.0.113.5"
        assert self.address("127.0.0.1", "") == "127.0.0.1"

    def test_ipv6_clients_count_by_their_64_bit_prefix(self):
        assert self.address("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
        assert self.address("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
        assert self.address("::ffff:192.0.2.1") == "192.0.2.1"

    def test_no_usable_address(self):
        assert self.address("") == "unknown"
