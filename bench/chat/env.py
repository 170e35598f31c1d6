"""
The chat benchmarks' environment (their own PostgreSQL database and Redis key prefix, the
variables every server process and the load client share) and fixtures: users, sessions and
threads in the bench database, made with the ORM (after ``activate()`` and ``django.setup()``).
"""

import os
import secrets
import sys
from dataclasses import dataclass

from bench.common import REDIS_URL, RESULTS, ROOT

# Shared by the fixtures (session auth hashes) and every server process.
SECRET_KEY = "bench-only-secret-key-not-for-any-real-site-0123456789abcdef"


def activate() -> dict[str, str]:
    """
    Return the environment of this run (BENCH_DATABASE_URL, BENCH_REDIS_URL, a Redis prefix
    random per run unless REDIS_KEY_PREFIX is set) and apply it to this process.
    """
    prefix = os.environ.get("REDIS_KEY_PREFIX") or f"bench-{secrets.token_hex(4)}:"
    env = dict(os.environ)
    env.update(
        DATABASE_URL=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_chat"
        ),
        REDIS_URL=REDIS_URL,
        REDIS_KEY_PREFIX=prefix,
        SECRET_KEY=SECRET_KEY,
        DJANGO_SETTINGS_MODULE="bench.chat.bench_settings",
        PYTHONPATH=str(ROOT),
        PYTHONDONTWRITEBYTECODE="1",
        # An empty static root keeps WhiteNoise quiet; no page here needs files.
        STATIC_ROOT=str(RESULTS / "static"),
    )
    (RESULTS / "static").mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return env


@dataclass(frozen=True)
class BenchUser:
    user_id: int
    session_key: str


def users(count: int, *, prefix: str = "bench_u") -> list:
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


def bench_users(count: int, *, prefix: str = "bench_u") -> list[BenchUser]:
    """Return *count* users, each with a fresh logged-in session (as auth.login makes)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    # Drop sessions made by earlier runs (each run makes new ones).
    soon = timezone.now() + timezone.timedelta(hours=23)
    Session.objects.filter(expire_date__lt=soon).delete()
    store, rows, user_list = SessionStore(), [], users(count, prefix=prefix)
    for user in user_list:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        key, expire = store._get_new_session_key(), soon + timezone.timedelta(hours=1)
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    Session.objects.bulk_create(rows, batch_size=1000)
    return [BenchUser(u.pk, r.session_key) for u, r in zip(user_list, rows, strict=True)]


def pair_threads(user_list: list[BenchUser]) -> list[int]:
    """Pair users (0, 1), (2, 3)..., empty their threads; return the thread ids."""
    from django.contrib.auth import get_user_model
    from django.db import connections, transaction

    from privatemessages.models import Message, Thread
    from privatemessages.services import thread_get_or_create_for_pair

    by_id = get_user_model().objects.in_bulk([u.user_id for u in user_list])
    threads = [
        thread_get_or_create_for_pair(user=by_id[a.user_id], other=by_id[b.user_id]).pk
        for a, b in zip(user_list[0::2], user_list[1::2], strict=True)
    ]
    with transaction.atomic():
        Message.objects.filter(thread_id__in=threads).delete()
        Thread.objects.filter(pk__in=threads).update(last_message=None)
    connections.close_all()
    return threads


def latest_message_id() -> int:
    from privatemessages.models import Message

    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def messages_since(after_id: int, thread_ids: list[int]) -> int:
    from privatemessages.models import Message

    return Message.objects.filter(id__gt=after_id, thread_id__in=thread_ids).count()
