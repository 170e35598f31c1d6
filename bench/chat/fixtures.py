"""
Users, sessions and threads in the bench database, made with the ORM.

Call after ``env.activate()`` and ``django.setup()``.
"""

from dataclasses import dataclass

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from privatemessages.models import Message, Thread
from privatemessages.services import thread_get_or_create_for_pair

BACKEND = "django.contrib.auth.backends.ModelBackend"


@dataclass(frozen=True)
class BenchUser:
    index: int
    user_id: int
    username: str
    session_key: str


def users(count: int, *, prefix: str = "bench_u") -> list:
    """Return *count* users named ``<prefix>0000``..., creating the missing ones."""
    User = get_user_model()
    names = [f"{prefix}{i:05d}" for i in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    missing = []
    for name in names:
        if name in existing:
            continue
        user = User(username=name)
        user.set_unusable_password()
        missing.append(user)
    User.objects.bulk_create(missing, batch_size=1000)
    by_name = User.objects.in_bulk(names, field_name="username")
    return [by_name[name] for name in names]


def sessions(user_list: list) -> list[str]:
    """Return a fresh logged-in session key for each user (as auth.login makes)."""
    expire = timezone.now() + timezone.timedelta(days=1)
    store = SessionStore()
    rows = []
    for user in user_list:
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: BACKEND,
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        key = store._get_new_session_key()
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
    Session.objects.bulk_create(rows, batch_size=1000)
    return [row.session_key for row in rows]


def bench_users(count: int, *, prefix: str = "bench_u") -> list[BenchUser]:
    """Return *count* users, each with a new session."""
    user_list = users(count, prefix=prefix)
    keys = sessions(user_list)
    return [
        BenchUser(index=i, user_id=u.pk, username=u.get_username(), session_key=k)
        for i, (u, k) in enumerate(zip(user_list, keys, strict=True))
    ]


def pair_threads(user_list: list[BenchUser]) -> list[int]:
    """Pair users (0, 1), (2, 3)... and return the thread id of each pair."""
    User = get_user_model()
    by_id = User.objects.in_bulk([u.user_id for u in user_list])
    threads = []
    for a, b in zip(user_list[0::2], user_list[1::2], strict=True):
        thread = thread_get_or_create_for_pair(user=by_id[a.user_id], other=by_id[b.user_id])
        threads.append(thread.pk)
    return threads


def clear_messages(thread_ids: list[int]) -> int:
    """Delete the messages of *thread_ids* (bench threads only); return how many."""
    with transaction.atomic():
        deleted, _ = Message.objects.filter(thread_id__in=thread_ids).delete()
        Thread.objects.filter(pk__in=thread_ids).update(last_message=None)
    return deleted


def latest_message_id() -> int:
    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def messages_since(after_id: int, thread_ids: list[int]) -> int:
    return Message.objects.filter(id__gt=after_id, thread_id__in=thread_ids).count()


def delete_old_sessions() -> None:
    """Drop sessions made by earlier runs (each run makes new ones)."""
    Session.objects.filter(expire_date__lt=timezone.now() + timezone.timedelta(hours=23)).delete()
