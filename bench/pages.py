"""
Workload 5, the pages: ``/messages/`` for users with 10 and 1,000 threads and
the chat page of threads with 10 and 100 messages; SQL query count and server
time of each, measured in-process with Django's test client against the bench
database (PostgreSQL) and Redis, settings as deployed (bench/chat/bench_settings.py).

    python -m bench.pages [--requests 20] [--quick]

The query counts must not depend on the number of threads or messages.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.chat import env, report

OWNER = "bench_page_owner"
PARTNER = "bench_page_partner"
MESSAGES_PER_LISTED_THREAD = 3

COLUMNS = [
    ("page", "page"),
    ("size", "size"),
    ("queries_cold", "queries (cold)"),
    ("queries", "queries"),
    ("cold_ms", "cold ms"),
    ("median_ms", "median ms"),
    ("p90_ms", "p90 ms"),
    ("bytes", "bytes"),
]


def build(thread_counts: list[int], chat_sizes: list[int]) -> dict:
    """
    Make one owner per thread count (owner<N> with N threads, each holding a few
    messages) and, for each chat size, a thread of owner<N_min> with that many
    messages. Reuse what an earlier run made when it is complete.
    """
    from django.db import transaction
    from django.db.models import Count

    from bench.chat import fixtures
    from privatemessages.models import Message, Thread
    from privatemessages.services import thread_get_or_create_for_pair

    partners = fixtures.users(max(thread_counts) + len(chat_sizes), prefix=PARTNER)
    owners = {n: fixtures.users(1, prefix=f"{OWNER}{n}_")[0] for n in thread_counts}
    made = {}
    for n, owner in owners.items():
        threads = [
            thread_get_or_create_for_pair(user=owner, other=partner) for partner in partners[:n]
        ]
        ids = [t.pk for t in threads]
        have = dict(
            Message.objects.filter(thread_id__in=ids)
            .values_list("thread_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        if any(have.get(t, 0) != MESSAGES_PER_LISTED_THREAD for t in ids):
            _fill(owner, threads, partners[:n], MESSAGES_PER_LISTED_THREAD)
        made[n] = {"owner": owner, "threads": ids}
    smallest = owners[min(thread_counts)]
    chats = {}
    for size, partner in zip(chat_sizes, partners[-len(chat_sizes) :], strict=True):
        thread = thread_get_or_create_for_pair(user=smallest, other=partner)
        if Message.objects.filter(thread=thread).count() != size:
            _fill(smallest, [thread], [partner], size)
        chats[size] = {"owner": smallest, "thread": thread.pk}
    with transaction.atomic():
        Thread.objects.filter(pk__in=[c["thread"] for c in chats.values()]).update(
            last_message=None
        )
    return {"lists": made, "chats": chats}


def _fill(owner, threads: list, partners: list, count: int) -> None:
    """Replace the messages of *threads* by *count* alternating ones each."""
    from django.db import transaction
    from django.utils import timezone

    from privatemessages.models import Message, Thread

    now = timezone.now()
    with transaction.atomic():
        Message.objects.filter(thread__in=threads).delete()
        rows = []
        for n, (thread, partner) in enumerate(zip(threads, partners, strict=True)):
            for i in range(count):
                rows.append(
                    Message(
                        thread=thread,
                        sender=owner if i % 2 else partner,
                        text=f"Сообщение {i} в диалоге {n}: " + "текст " * 8,
                        created=now - timezone.timedelta(minutes=count - i, seconds=n),
                    )
                )
        Message.objects.bulk_create(rows, batch_size=2000)
        for n, thread in enumerate(threads):
            Thread.objects.filter(pk=thread.pk).update(
                last_message=now - timezone.timedelta(seconds=n)
            )


def measure(client, url: str, requests: int) -> dict:
    """GET *url* once cold and *requests* times warm; count queries and time them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # captured_queries reads connection.queries when asked, and every request
    # resets that log: copy the queries out before the next request.
    with CaptureQueriesContext(connection) as captured:
        start = time.perf_counter()
        response = client.get(url)
        cold = time.perf_counter() - start
    cold_queries = list(captured.captured_queries)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url} answered {response.status_code}")
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    warm_queries = list(captured.captured_queries)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "queries_cold": len(cold_queries),
        "queries": len(warm_queries),
        "sql": [q["sql"][:300] for q in warm_queries],
        "cold_ms": 1000 * cold,
        "median_ms": 1000 * statistics.median(times),
        "p90_ms": 1000 * times[min(len(times) - 1, int(0.9 * len(times)))],
        "bytes": len(response.content),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    parser.add_argument("--requests", type=int, help="warm requests per page (default 20)")
    parser.add_argument("--quick", action="store_true", help="5 warm requests per page")
    parser.add_argument("--threads", default="10,1000", help="thread counts (default 10,1000)")
    parser.add_argument("--messages", default="10,100", help="chat sizes (default 10,100)")
    args = parser.parse_args(argv)
    requests = args.requests or (5 if args.quick else 20)
    thread_counts = sorted(int(n) for n in args.threads.split(","))
    chat_sizes = sorted(int(n) for n in args.messages.split(","))

    bench_env = env.activate()
    env.ensure_database(bench_env)
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    try:
        data = build(thread_counts, chat_sizes)
        rows = []
        for n, made in data["lists"].items():
            client = Client()
            client.force_login(made["owner"])
            row = measure(client, reverse("privatemessages:thread_list"), requests)
            rows.append({"page": "/messages/", "size": f"{n} threads", **row})
        for size, chat in data["chats"].items():
            client = Client()
            client.force_login(chat["owner"])
            url = reverse("privatemessages:chat", kwargs={"thread_id": chat["thread"]})
            row = measure(client, url, requests)
            rows.append({"page": "/messages/chat/<id>/", "size": f"{size} messages", **row})
    finally:
        env.delete_redis_keys(bench_env)

    def constant(page: str) -> bool:
        counts = {r["queries"] for r in rows if r["page"] == page}
        return len(counts) == 1

    result = {
        "workload": "pages",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "requests": requests,
        "pages": rows,
        "query_count_constant": {
            "thread_list": constant("/messages/"),
            "chat": constant("/messages/chat/<id>/"),
        },
    }
    print(report.table(rows, COLUMNS))
    print(f"query counts independent of size: {result['query_count_constant']}")
    report.save("pages", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
