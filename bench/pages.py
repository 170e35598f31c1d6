"""
The pages: ``/messages/`` for users with 10 and 1,000 threads and the chat page of threads
with 10, 100 and 100,000 messages; SQL queries (cold and warm) and server time of each,
in-process with Django's test client against the bench database and Redis, settings as
deployed (bench/chat/bench_settings.py). Neither the query count nor the time may grow with
the size.

    python -m bench.pages [--requests 20] [--quick]
"""

import argparse
import statistics
import sys
import time

from bench.chat import fixtures
from bench.common import create_database, delete_redis_keys, save, table

COLUMNS = [
    *(("page", "page"), ("size", "size"), ("queries_cold", "queries (cold)")),
    *(("queries", "queries"), ("cold_ms", "cold ms"), ("median_ms", "median ms")),
    *(("p90_ms", "p90 ms"), ("bytes", "bytes")),
]


def fill(owner, partners: list, count: int) -> list[int]:
    """Return the threads of *owner* with each of *partners*, each made to hold exactly
    *count* alternating messages."""
    from django.db import connection, transaction
    from django.db.models.functions import Now

    from privatemessages.models import Message, Thread
    from privatemessages.services import thread_counts_rebuild, thread_get_or_create_for_pair

    ids = [thread_get_or_create_for_pair(user=owner, other=p).pk for p in partners]
    # One INSERT ... SELECT per thread: 100,000 messages in seconds, not minutes.
    columns = "thread_id, sender_id, text, created, client_id"
    insert = f"""INSERT INTO {Message._meta.db_table} ({columns})
        SELECT %s, CASE WHEN i %% 2 = 1 THEN %s ELSE %s END,
               'Сообщение ' || i || ' в диалоге ' || %s || ': ' || repeat('текст ', 8),
               now() - (%s - i) * interval '1 minute' - %s * interval '1 second', ''
        FROM generate_series(0, %s - 1) AS i"""
    with transaction.atomic(), connection.cursor() as cursor:
        Message.objects.filter(thread_id__in=ids).delete()
        for n, (thread, partner) in enumerate(zip(ids, partners, strict=True)):
            cursor.execute(insert, [thread, owner.pk, partner.pk, n, count, n, count])
        # The counters sending keeps, counted again from the rows.
        thread_counts_rebuild(thread_ids=ids)
        Thread.objects.filter(pk__in=ids).update(last_message=Now())
    return ids


def measure(client, url: str, requests: int) -> dict:
    """GET *url* once cold and *requests* times warm; count queries and time them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries, times = [], []
    for _ in range(requests + 2):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            times.append(1000 * (time.perf_counter() - start))
        # Every request resets the log captured_queries reads: copy it out now.
        queries.append(list(captured.captured_queries))
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
    env = fixtures.activate()
    create_database(env)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from privatemessages.models import Thread

    pages = []  # (page, size, owner, url)
    try:
        partners = fixtures.users(1000 + 3, prefix="bench_page_partner")
        for n in (10, 1000):  # an owner with n threads, a few messages each
            owner = fixtures.users(1, prefix=f"bench_page_owner{n}_")[0]
            fill(owner, partners[:n], 3)
            url = reverse("privatemessages:thread_list")
            pages.append(("/messages/", f"{n:,} threads", owner, url))
        chats = []
        for size, partner in zip((10, 100, 100_000), partners[-3:], strict=True):
            owner = fixtures.users(1, prefix="bench_page_owner10_")[0]  # the 10-thread owner's
            chats += fill(owner, [partner], size)
            url = reverse("privatemessages:chat", kwargs={"thread_id": chats[-1]})
            pages.append(("/messages/chat/<id>/", f"{size:,} messages", owner, url))
        Thread.objects.filter(pk__in=chats).update(last_message=None)  # off the owner's list
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would after a bulk insert
        rows = []
        for page, size, owner, url in pages:
            client = Client()
            client.force_login(owner)
            rows.append({"page": page, "size": size, **measure(client, url, requests)})
    finally:
        delete_redis_keys(env["REDIS_URL"], env["REDIS_KEY_PREFIX"])

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
