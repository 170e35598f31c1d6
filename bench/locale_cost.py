"""
What the site's languages cost a request, in-process, measured as the best of repeated runs
(the least disturbed by other work on a shared machine): Django's LocaleMiddleware and the
site's PageLocaleMiddleware around a trivial view, for a page (no Accept-Language, Chrome's
Russian list, English) and for the Alice webhook path (which PageLocaleMiddleware skips);
and the scripts' catalog (/jsi18n/): built, and revalidated (the 304 a page view costs).

    python -m bench.locale_cost [--number 3000] [--repeat 15]
"""

import argparse
import functools
import os
import sys
import time
import timeit

from bench.common import load_average, save, table

COLUMNS = [("case", "case"), ("view_us", "view µs"), ("django_us", "+ LocaleMiddleware µs")]
COLUMNS += [("page_us", "+ PageLocaleMiddleware µs")]
CASES = {
    "page, no Accept-Language": ("/messages/", {}),
    "page, Chrome's Russian list": (
        "/messages/",
        {"HTTP_ACCEPT_LANGUAGE": "ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"},
    ),
    "page, en-US": ("/messages/", {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}),
    "webhook /alice/": ("/alice/", {}),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.locale_cost", description=__doc__)
    parser.add_argument("--number", type=int, default=3000, help="calls per timing")
    parser.add_argument("--repeat", type=int, default=15, help="timings; the best is kept")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    import django

    django.setup()
    from django.http import HttpResponse
    from django.middleware.locale import LocaleMiddleware
    from django.test import Client, RequestFactory
    from django.utils import translation

    from myproject.page_locale import PageLocaleMiddleware

    def best(function, number=args.number) -> float:
        """Microseconds per call, the best of the repeats."""
        return min(timeit.repeat(function, number=number, repeat=args.repeat)) / number * 1e6

    def best_of_each(*functions) -> list[float]:
        """best() of each, their timings taking turns: a busy spell hits all alike."""
        timings = [[] for _ in functions]
        for _ in range(args.repeat):
            for timing, function in zip(timings, functions, strict=True):
                timing.append(timeit.timeit(function, number=args.number))
        return [min(timing) / args.number * 1e6 for timing in timings]

    def view(request):
        return HttpResponse("ok")

    def through(middleware, request):
        def call():
            middleware(request)
            translation.deactivate()  # as if a new request's thread

        return call

    rows = []
    print(f"load average: {load_average()}", file=sys.stderr)
    for case, (path, headers) in CASES.items():
        request = RequestFactory().get(path, **headers)
        request.session = {}
        bare, django_mw, page_mw = best_of_each(
            through(view, request),
            through(LocaleMiddleware(view), request),
            through(PageLocaleMiddleware(view), request),
        )
        rows.append(
            {
                "case": case,
                "view_us": bare,
                "django_us": django_mw - bare,
                "page_us": page_mw - bare,
            }
        )
    client = Client(HTTP_HOST="127.0.0.1")
    catalog = []
    for language in ("ru", "en"):
        get = functools.partial(client.get, "/jsi18n/", HTTP_ACCEPT_LANGUAGE=language)
        first = get()
        revalidate = functools.partial(get, HTTP_IF_NONE_MATCH=first["ETag"])
        catalog.append(
            {
                "language": language,
                "bytes": len(first.content),
                "built_ms": best(get, 50) / 1000,
                "revalidated_ms": best(revalidate, 200) / 1000,
            }
        )
    print(table(rows, COLUMNS))
    columns = [("language", "catalog"), ("bytes", "bytes"), ("built_ms", "built ms")]
    print(table(catalog, [*columns, ("revalidated_ms", "304 ms")]))
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    save(
        "locale_cost", {"workload": "locale_cost", "date": when, "rows": rows, "catalog": catalog}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
