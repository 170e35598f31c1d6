/*
 * Report the browser's IANA time zone to the server in the "timezone" cookie
 * (read by timezones.middleware.TimezoneMiddleware).
 *
 * - A zone the user picked explicitly (cookie "timezone_manual=1", set by the
 *   server's zone picker) is never overwritten.
 * - On a first visit the page was rendered in the server's zone: once the
 *   cookie is set, a GET page is reloaded once so that times show in the
 *   browser's zone. The reload happens only if the cookie really stuck and the
 *   zone differs, and at most once per tab session, so it cannot loop.
 *
 * Loaded in <head>, before anything is drawn.
 */
(function () {
  "use strict";

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
