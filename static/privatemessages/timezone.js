/*
 * Report the browser's IANA time zone to the server in the "timezone" cookie
 * (read by privatemessages.middleware.TimezoneMiddleware).
 *
 * - A zone the user picked explicitly (cookie "timezone_manual=1", set by the
 *   server's zone picker) is never overwritten.
 * - On a first visit the page was rendered in the server's zone: once the
 *   cookie is set, a GET page is reloaded once so that times show in the
 *   browser's zone. The reload happens only if the cookie really stuck and the
 *   zone differs, and at most once per tab session, so it cannot loop.
 *
 * It also gives the live pages PMTime.format(date, withSeconds): a time as the
 * server renders it ("d.m.Y H:i[:s]") in the zone the page was rendered in.
 *
 * Loaded in <head>, before anything is drawn.
 */
(function () {
  "use strict";

  var renderedZone = document.documentElement.getAttribute("data-timezone") || undefined;
  var formatters = {};

  function formatterFor(withSeconds) {
    var key = withSeconds ? "s" : "m";
    if (!formatters[key]) {
      var options = {
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      };
      if (withSeconds) {
        options.second = "2-digit";
      }
      try {
        formatters[key] = new Intl.DateTimeFormat("ru-RU", Object.assign({ timeZone: renderedZone }, options));
      } catch (error) {
        formatters[key] = new Intl.DateTimeFormat("ru-RU", options); // Unknown zone: the browser's.
      }
    }
    return formatters[key];
  }

  window.PMTime = {
    format: function (date, withSeconds) {
      var parts = {};
      formatterFor(withSeconds).formatToParts(date).forEach(function (part) {
        parts[part.type] = part.value;
      });
      var text = parts.day + "." + parts.month + "." + parts.year + " " + parts.hour + ":" + parts.minute;
      return withSeconds ? text + ":" + parts.second : text;
    },
  };

  var COOKIE = "timezone";
  var MANUAL_COOKIE = "timezone_manual";
  var RELOADED_KEY = "timezone-reloaded";
  // IANA names only; anything else could not be read back as one cookie value.
  var ZONE_RE = /^[A-Za-z0-9_+\-\/]{1,64}$/;

  function readCookie(name) {
    var pairs = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < pairs.length; i++) {
      var pair = pairs[i].trim();
      var eq = pair.indexOf("=");
      if (eq > 0 && pair.slice(0, eq) === name) {
        var value = pair.slice(eq + 1);
        // Django quotes values with "/" in them when it sets a cookie.
        return /^".*"$/.test(value) ? value.slice(1, -1) : value;
      }
    }
    return null;
  }

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
    } catch (e) {
      return null;
    }
  }

  function alreadyReloaded() {
    try {
      if (window.sessionStorage.getItem(RELOADED_KEY)) {
        return true;
      }
      window.sessionStorage.setItem(RELOADED_KEY, "1");
      return false;
    } catch (e) {
      return true; // No storage: do not risk a reload loop.
    }
  }

  var zone = browserZone();
  if (!zone || !ZONE_RE.test(zone) || readCookie(MANUAL_COOKIE) === "1") {
    return;
  }
  if (readCookie(COOKIE) === zone) {
    return;
  }
  document.cookie =
    COOKIE + "=" + zone + "; path=/; max-age=31536000; samesite=lax" +
    (window.location.protocol === "https:" ? "; secure" : "");

  var root = document.documentElement;
  if (
    readCookie(COOKIE) === zone &&
    root.hasAttribute("data-reload-ok") &&
    root.getAttribute("data-timezone") !== zone &&
    !alreadyReloaded()
  ) {
    window.location.reload();
  }
})();
