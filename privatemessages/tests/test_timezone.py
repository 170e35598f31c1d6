import datetime as dt
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from privatemessages.models import Message
from timezones.middleware import TimezoneMiddleware, zone_from_name

TIMEZONE_JS = (
    Path(__file__).resolve().parents[2] / "timezones" / "static" / "timezones" / "timezone.js"
)

FORGED = [
    "",
    "Not/AZone",
    "../../../etc/passwd",
    "/etc/localtime",
    "Europe/Moscow\x00",
    "Europe/Moscow;",
    "A" * 10_000,
    "Europe/" + "x" * 60,
    "localtime",
    "Asia/Tokyo ",
    "Ünïcödé/Zone",
]


def zone_seen_by_view(cookie: str | None) -> str:
    seen = {}

    def view(request):
        seen["zone"] = timezone.get_current_timezone_name()
        return HttpResponse()

    request = RequestFactory().get("/")
    if cookie is not None:
        request.COOKIES["timezone"] = cookie
    TimezoneMiddleware(view)(request)
    return seen["zone"]


def test_valid_cookie_is_activated_for_the_request_and_deactivated_after():
    assert zone_seen_by_view("Asia/Tokyo") == "Asia/Tokyo"
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_missing_cookie_means_the_server_zone():
    assert zone_seen_by_view(None) == settings.TIME_ZONE


@pytest.mark.parametrize("value", FORGED)
def test_unknown_or_forged_cookie_means_the_server_zone(value):
    assert zone_seen_by_view(value) == settings.TIME_ZONE
    assert zone_from_name(value) is None


def test_zone_does_not_leak_into_the_next_request_on_the_same_thread():
    """A request without a cookie after one with a cookie renders in the server zone."""
    assert zone_seen_by_view("America/New_York") == "America/New_York"
    assert zone_seen_by_view(None) == settings.TIME_ZONE
    assert zone_seen_by_view("Asia/Tokyo") == "Asia/Tokyo"
    assert zone_seen_by_view("bogus") == settings.TIME_ZONE


def test_zone_is_deactivated_even_when_the_view_raises():
    def view(request):
        raise RuntimeError("boom")

    request = RequestFactory().get("/")
    request.COOKIES["timezone"] = "Asia/Tokyo"
    with pytest.raises(RuntimeError):
        TimezoneMiddleware(view)(request)
    assert timezone.get_current_timezone_name() == settings.TIME_ZONE


def test_a_zone_left_active_by_earlier_code_does_not_reach_a_request_without_cookie():
    timezone.activate("Asia/Tokyo")
    try:
        assert zone_seen_by_view(None) == settings.TIME_ZONE
    finally:
        timezone.deactivate()


def test_concurrent_requests_in_different_zones_see_their_own():
    results = {}
    barrier = threading.Barrier(4)

    def worker(cookie):
        def view(request):
            barrier.wait(timeout=5)
            results[cookie] = timezone.get_current_timezone_name()
            return HttpResponse()

        request = RequestFactory().get("/")
        if cookie:
            request.COOKIES["timezone"] = cookie
        TimezoneMiddleware(view)(request)

    cookies = ["Asia/Tokyo", "America/New_York", "", "Europe/Berlin"]
    workers = [threading.Thread(target=worker, args=(c,)) for c in cookies]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == {
        "Asia/Tokyo": "Asia/Tokyo",
        "America/New_York": "America/New_York",
        "": settings.TIME_ZONE,
        "Europe/Berlin": "Europe/Berlin",
    }


@pytest.fixture
def message_at_noon_utc(anna, thread):
    return Message.objects.create(
        thread=thread,
        sender=anna,
        text="Полдень по Гринвичу",
        created=dt.datetime(2024, 1, 15, 12, 0, 5, tzinfo=dt.UTC),
    )


def test_chat_shows_times_in_the_cookie_zone(anna_client, thread, message_at_noon_utc):
    anna_client.cookies["timezone"] = "Asia/Tokyo"
    response = anna_client.get(thread.get_absolute_url())
    assert "15.01.2024 21:00:05" in response.content.decode()
    assert 'datetime="2024-01-15T12:00:05Z"' in response.content.decode()


@pytest.mark.parametrize("value", FORGED)
def test_pages_survive_forged_cookies(anna_client, thread, message_at_noon_utc, value):
    """A forged zone is ignored: the server zone (Moscow, +3), never a 500."""
    anna_client.cookies["timezone"] = value
    for url in (thread.get_absolute_url(), "/messages/"):
        response = anna_client.get(url)
        assert response.status_code == 200
    assert "15.01.2024 15:00:05" in anna_client.get(thread.get_absolute_url()).content.decode()


def test_zone_does_not_leak_between_client_requests(anna_client, thread, message_at_noon_utc):
    anna_client.cookies["timezone"] = "Asia/Tokyo"
    assert "21:00:05" in anna_client.get(thread.get_absolute_url()).content.decode()
    del anna_client.cookies["timezone"]
    assert "15:00:05" in anna_client.get(thread.get_absolute_url()).content.decode()


def test_page_tells_timezone_js_the_zone_it_was_rendered_in(anna_client):
    anna_client.cookies["timezone"] = "Asia/Tokyo"
    content = anna_client.get("/messages/").content.decode()
    assert 'data-timezone="Asia/Tokyo"' in content
    assert "data-reload-ok" in content
    assert "timezones/timezone.js" in content


# The zone picker.


def test_picker_lists_common_zones(anna_client):
    response = anna_client.get("/timezone/")
    content = response.content.decode()
    assert response.status_code == 200
    assert '<option value="Europe/Moscow"' in content
    assert '<option value="America/New_York"' in content
    assert 'value="" selected' in content


def test_picking_a_zone_sets_both_cookies_and_goes_back(anna_client, thread):
    response = anna_client.post(
        "/timezone/", {"timezone": "Asia/Tokyo", "next": thread.get_absolute_url()}
    )
    assert response.status_code == 302
    assert response["Location"] == thread.get_absolute_url()
    assert response.cookies["timezone"].value == "Asia/Tokyo"
    assert response.cookies["timezone_manual"].value == "1"
    assert response.cookies["timezone"]["samesite"] == "Lax"
    # The picked zone is active from the next request on, and shown as picked.
    picker = anna_client.get("/timezone/").content.decode()
    assert '<option value="Asia/Tokyo" selected' in picker
    assert 'data-timezone="Asia/Tokyo"' in picker


def test_choosing_automatic_drops_the_manual_flag(anna_client):
    anna_client.post("/timezone/", {"timezone": "Asia/Tokyo"})
    response = anna_client.post("/timezone/", {"timezone": ""})
    assert response.status_code == 302
    assert response["Location"] == "/messages/"
    assert response.cookies["timezone_manual"].value == ""
    assert response.cookies["timezone_manual"]["max-age"] == 0


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc", "localtime"])
def test_picking_an_unknown_zone_is_an_error(anna_client, zone):
    response = anna_client.post("/timezone/", {"timezone": zone})
    assert response.status_code == 200
    assert "timezone" not in response.cookies
    assert "errorlist" in response.content.decode()


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "javascript:x"])
def test_picker_does_not_redirect_off_site(anna_client, next_url):
    response = anna_client.post("/timezone/", {"timezone": "UTC", "next": next_url})
    assert response["Location"] == "/messages/"


def test_picker_needs_login(client, db):
    response = client.get("/timezone/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# timezone.js, run in node against a fake document.

NODE_HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const jar = new Map(Object.entries(input.cookies));
let reloads = 0;
const storage = new Map(Object.entries(input.session || {}));
const document = {
  get cookie() { return [...jar].map(([k, v]) => k + "=" + v).join("; "); },
  set cookie(text) {
    if (input.cookiesDisabled) return;
    const [pair] = text.split(";");
    const eq = pair.indexOf("=");
    jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  },
  documentElement: {
    hasAttribute: (name) => name === "data-reload-ok" ? input.reloadOk : false,
    getAttribute: (name) => name === "data-timezone" ? input.serverZone : null,
  },
};
const window = {
  location: { protocol: "http:", reload: () => { reloads += 1; } },
  sessionStorage: {
    getItem: (k) => storage.has(k) ? storage.get(k) : null,
    setItem: (k, v) => storage.set(k, String(v)),
  },
};
vm.runInNewContext(fs.readFileSync(input.script, "utf8"), { document, window, Intl });
process.stdout.write(JSON.stringify({ cookies: Object.fromEntries(jar), reloads }));
"""


def run_timezone_js(browser_zone: str, **options) -> dict:
    payload = {
        "script": str(TIMEZONE_JS),
        "cookies": {},
        "serverZone": "Europe/Moscow",
        "reloadOk": True,
        **options,
    }
    result = subprocess.run(
        ["node", "-e", NODE_HARNESS],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={"TZ": browser_zone, "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    return json.loads(result.stdout)


needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="needs node")


@needs_node
def test_js_first_visit_sets_cookie_and_reloads_once():
    result = run_timezone_js("Asia/Tokyo")
    assert result == {"cookies": {"timezone": "Asia/Tokyo"}, "reloads": 1}


@needs_node
def test_js_does_not_reload_twice_in_a_tab():
    result = run_timezone_js("Asia/Tokyo", session={"timezone-reloaded": "1"})
    assert result == {"cookies": {"timezone": "Asia/Tokyo"}, "reloads": 0}


@needs_node
def test_js_does_not_reload_when_the_page_already_is_in_that_zone():
    result = run_timezone_js("Asia/Tokyo", serverZone="Asia/Tokyo")
    assert result["reloads"] == 0
    assert result["cookies"] == {"timezone": "Asia/Tokyo"}


@needs_node
def test_js_does_not_reload_a_page_that_answered_a_post():
    result = run_timezone_js("Asia/Tokyo", reloadOk=False)
    assert result == {"cookies": {"timezone": "Asia/Tokyo"}, "reloads": 0}


@needs_node
def test_js_never_overwrites_an_explicit_choice():
    cookies = {"timezone": "Europe/Berlin", "timezone_manual": "1"}
    result = run_timezone_js("Asia/Tokyo", cookies=cookies)
    assert result == {"cookies": cookies, "reloads": 0}


@needs_node
def test_js_updates_a_stale_automatic_zone():
    result = run_timezone_js(
        "Asia/Tokyo", cookies={"timezone": "Europe/Berlin"}, serverZone="Europe/Berlin"
    )
    assert result == {"cookies": {"timezone": "Asia/Tokyo"}, "reloads": 1}


@needs_node
def test_js_does_not_loop_when_cookies_are_off():
    result = run_timezone_js("Asia/Tokyo", cookiesDisabled=True)
    assert result == {"cookies": {}, "reloads": 0}


@needs_node
def test_js_reads_the_quoted_value_django_writes():
    """Django's set_cookie writes "Asia/Tokyo" in quotes (the "/" is special)."""
    result = run_timezone_js(
        "Asia/Tokyo", cookies={"timezone": '"Asia/Tokyo"'}, serverZone="Asia/Tokyo"
    )
    assert result == {"cookies": {"timezone": '"Asia/Tokyo"'}, "reloads": 0}
