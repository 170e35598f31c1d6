/*
 * Times for people, with the browser's Intl, in the page's language (<html
 * lang>) and in the zone the page was rendered in (<html data-timezone>, or
 * the browser's own when that is missing or unknown):
 *
 *   PMTime.label(date)      "сегодня 14:05" / "today, 02:05 PM", "вчера …", then the date
 *   PMTime.full(date)       the full date and time, for a tooltip
 *   PMTime.show(el, date)   a <time>: datetime (UTC), the label, the full time as its title
 *   PMTime.presence(info)   "в сети" / "был(а) в сети вчера 14:05", or ""
 *
 * On load it relabels the page's <time datetime> elements (the server writes
 * plain numbers, readable in any language without scripts), and again when
 * the day changes. Needs Django's
 * JavaScript catalog (gettext, interpolate), loaded by base.html first.
 * Independent of the cookie script (timezones/timezone.js).
 */
(function () {
  "use strict";

  var html = document.documentElement;
  var language = html.lang || undefined;
  var renderedZone = html.getAttribute("data-timezone") || undefined;
  var formatters = {};
  var relative = new Intl.RelativeTimeFormat(language, { numeric: "auto" });

  function formatter(key, options) {
    if (!formatters[key]) {
      try {
        formatters[key] = new Intl.DateTimeFormat(language, Object.assign({ timeZone: renderedZone }, options));
      } catch (error) {
        formatters[key] = new Intl.DateTimeFormat(language, options); // Unknown zone: the browser's.
      }
    }
    return formatters[key];
  }

  // The calendar day of *date* in the page's zone, as a day count: days
  // apart whatever the daylight-saving changes between them.
  function dayNumber(date) {
    var parts = {};
    formatter("day", { year: "numeric", month: "numeric", day: "numeric" })
      .formatToParts(date)
      .forEach(function (part) {
        parts[part.type] = Number(part.value);
      });
    return Date.UTC(parts.year, parts.month - 1, parts.day) / 86400000;
  }

  function label(date) {
    var now = new Date();
    var daysAgo = dayNumber(now) - dayNumber(date);
    if (daysAgo === 0 || daysAgo === 1) {
      // "сегодня" / "вчера" in the page's language, then the time.
      return relative.format(-daysAgo, "day") + " " + formatter("time", { hour: "2-digit", minute: "2-digit" }).format(date);
    }
    var sameYear = formatter("year", { year: "numeric" }).format(date) === formatter("year", { year: "numeric" }).format(now);
    var options = { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
    if (!sameYear) {
      options.year = "numeric";
    }
    return formatter(sameYear ? "date" : "dateYear", options).format(date);
  }

  function full(date) {
    return formatter("full", { dateStyle: "full", timeStyle: "long" }).format(date);
  }

  function show(el, date) {
    el.dateTime = date.toISOString().replace(/\.\d{3}Z$/, "Z");
    el.textContent = label(date);
    el.title = full(date);
  }

  // "в сети", "был(а) в сети сегодня 14:05", or "" for a presence entry
  // (docs/protocol.md) that says nothing.
  function presence(info) {
    if (!info || typeof info !== "object") {
      return "";
    }
    if (info.online) {
      return gettext("в сети");
    }
    var date = info.last_seen ? new Date(info.last_seen) : null;
    if (!date || isNaN(date.getTime())) {
      return "";
    }
    return interpolate(gettext("был(а) в сети %s"), [label(date)]);
  }

  window.PMTime = { label: label, full: full, show: show, presence: presence };

  function showAll() {
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var date = new Date(el.dateTime);
      if (!isNaN(date.getTime())) {
        show(el, date);
      }
    });
  }

  // A page left open past midnight: "today" becomes "yesterday", and so on.
  var shownDay = dayNumber(new Date());
  setInterval(function () {
    var day = dayNumber(new Date());
    if (day !== shownDay) {
      shownDay = day;
      showAll();
    }
  }, 60000);
  showAll();
})();
