"""
The chat benchmarks' environment (the database bench_chat and a Redis key prefix of the run's
own, shared by every server process and the load client) and fixtures: users, logged-in
sessions and threads, made with the ORM (after ``activate()`` and ``django.setup()``).
"""

import os

from bench.common import REDIS_URL, RESULTS, ROOT


def activate() -> dict[str, str]:
    """Return the environment of this run and apply it to this process."""
    mine = ("DATABASE_", "DJANGO_", "REDIS_", "PRIVATEMESSAGES_", "LOGIN_THROTTLE_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(mine)}
    env.update(
        DATABASE_URL=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_chat"
        ),
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=os.environ.get("REDIS_KEY_PREFIX") or f"bench-{os.urandom(4).hex()}:",
        # Fixed: the fixtures' session hashes must match the servers'.
        SECRET_KEY="bench-only-secret-key-not-for-any-real-site-0123456789abcdef",
        DJANGO_SETTINGS_MODULE="bench.chat.bench_settings",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        STATIC_ROOT=str(RESULTS / "static"),  # empty: keeps WhiteNoise quiet
    )
    (RESULTS / "static").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


def users(count: int, *, prefix: str) -> list:
    """Return *count* users named ``<prefix>00000``..., creating the missing ones."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    names = [f"{prefix}{i:05d}" for i in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    missing = [User(username=name) for name in names if name not in existing]
    for user in missing:
        user.set_unusable_password()
    User.objects.bulk_create(missing, batch_size=1000)
    by_name = User.objects.in_bulk(names, field_name="username")
    return [by_name[name] for name in names]


def sessions(user_list: list) -> list[str]:
    """Return a fresh logged-in session key per user (as auth.login makes them)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    soon = timezone.now() + timezone.timedelta(hours=23)
    Session.objects.filter(expire_date__lt=soon).delete()  # earlier runs' (each makes new ones)
    store, rows = SessionStore(), []
    for user in user_list:
        data = {SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash()}
        data[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        key, expire = store._get_new_session_key(), soon + timezone.timedelta(hours=1)
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    Session.objects.bulk_create(rows, batch_size=1000)
    return [row.session_key for row in rows]


def pairs(count: int, prefix: str) -> tuple[list[str], list[int]]:
    """*count* users paired (0, 1), (2, 3)... in empty threads: their session keys and the
    thread ids."""
    from django.db import connections

    from privatemessages.models import Message
    from privatemessages.services import thread_counts_rebuild, thread_get_or_create_for_pair

    user_list = users(count + count % 2, prefix=prefix)
    threads = [
        thread_get_or_create_for_pair(user=a, other=b).pk
        for a, b in zip(user_list[0::2], user_list[1::2], strict=True)
    ]
    Message.objects.filter(thread_id__in=threads).delete()
    thread_counts_rebuild(thread_ids=threads)
    connections.close_all()
    return sessions(user_list), threads
