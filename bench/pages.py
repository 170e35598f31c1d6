"""
Workload 5, the pages: ``/messages/`` for users with 10 and 1,000 threads and the chat page
of threads with 10 and 100 messages; SQL queries (cold and warm) and server time of each,
in-process with Django's test client against the bench database and Redis, settings as
deployed (bench/chat/bench_settings.py). The query counts must not depend on the size.

    python -m bench.pages [--requests 20] [--quick]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chat import env
from bench.common import create_database, delete_redis_keys, save, table

MESSAGES_PER_LISTED_THREAD = 3
COLUMNS = [
    *(("page", "page"), ("size", "size"), ("queries_cold", "queries (cold)")),
    *(("queries", "queries"), ("cold_ms", "cold ms"), ("median_ms", "median ms")),
    *(("p90_ms", "p90 ms"), ("bytes", "bytes")),
]


def fill(owner, threads: list, partners: list, count: int) -> list:
    """Give each of *threads* exactly *count* alternating messages (reusing a complete
    earlier run's); return the thread ids."""
    from django.db import transaction
    from django.db.models import Count
    from django.utils import timezone

    from privatemessages.models import Message, Thread

    ids = [t.pk for t in threads]
    have = (
        Message.objects.filter(thread_id__in=ids).values_list("thread_id").annotate(n=Count("id"))
    )
    if dict(have.order_by()) == dict.fromkeys(ids, count):
        return ids
    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(thread__in=threads).delete()
        Message.objects.bulk_create(
            (
                Message(
                    thread=thread,
                    sender=owner if i % 2 else partner,
                    text=f"Сообщение {i} в диалоге {n}: " + "текст " * 8,
                    created=now - timezone.timedelta(minutes=count - i, seconds=n),
                )
                for n, (thread, partner) in enumerate(zip(threads, partners, strict=True))
                for i in range(count)
            ),
            batch_size=2000,
        )
        for n, thread in enumerate(threads):
            last = now - timezone.timedelta(seconds=n)
            Thread.objects.filter(pk=thread.pk).update(last_message=last)
    return ids


def measure(client, url: str, requests: int) -> dict:
    """GET *url* once cold and *requests* times warm; count queries and time them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries, times = [], []
    for n in range(requests + 2):
        # captured_queries reads connection.queries when asked, and every request resets
        # that log: copy the queries out before the next request.
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append(1000 * (time.perf_counter() - start))
        queries.append(list(captured.captured_queries) if n < 2 else None)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    warm = sorted(times[2:])
    return {
        "queries_cold": len(queries[0]),
        "queries": len(queries[1]),
        "sql": [q["sql"][:300] for q in queries[1]],
        "cold_ms": times[0],
        "median_ms": statistics.median(warm),
        "p90_ms": warm[min(len(warm) - 1, int(0.9 * len(warm)))],
        "bytes": len(response.content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    parser.add_argument("--requests", type=int, help="warm requests per page (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 warm requests per page")
    args = parser.parse_args(argv)
    requests = args.requests or (5 if args.quick else 20)
    bench_env = env.activate()
    create_database(bench_env)
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    from privatemessages.models import Thread
    from privatemessages.services import thread_get_or_create_for_pair as pair

    pages = []  # (page, size, owner, url)
    try:
        partners = env.users(1000 + 2, prefix="bench_page_partner")
        for n in (10, 1000):  # an owner with n threads, a few messages each
            owner = env.users(1, prefix=f"bench_page_owner{n}_")[0]
            fill(owner, [pair(user=owner, other=p) for p in partners[:n]], partners[:n], 3)
            pages.append(
                ("/messages/", f"{n} threads", owner, reverse("privatemessages:thread_list"))
            )
        chats = []
        for size, partner in zip((10, 100), partners[-2:], strict=True):  # the 10-thread owner's
            owner = env.users(1, prefix="bench_page_owner10_")[0]
            chats += fill(owner, [pair(user=owner, other=partner)], [partner], size)
            url = reverse("privatemessages:chat", kwargs={"thread_id": chats[-1]})
            pages.append(("/messages/chat/<id>/", f"{size} messages", owner, url))
        Thread.objects.filter(pk__in=chats).update(last_message=None)
        rows = []
        for page, size, owner, url in pages:
            client = Client()
            client.force_login(owner)
            rows.append({"page": page, "size": size, **measure(client, url, requests)})
    finally:
        delete_redis_keys(bench_env["REDIS_URL"], bench_env["REDIS_KEY_PREFIX"])

    constant = {
        page: len({r["queries"] for r in rows if r["page"] == page}) == 1
        for page in ("/messages/", "/messages/chat/<id>/")
    }
    print(table(rows, COLUMNS))
    print(f"query counts independent of size: {constant}")
    result = {"workload": "pages", "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    save("pages", result | {"requests": requests, "pages": rows, "query_count_constant": constant})
    return 0


if __name__ == "__main__":
    sys.exit(main())
