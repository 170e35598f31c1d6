/*
 * PMTime.format(date, withSeconds): a time as the server renders it
 * ("d.m.Y H:i[:s]") in the zone the page was rendered in (<html
 * data-timezone>, or the browser's own when that is missing or unknown), for
 * the lines the live chat pages add. Independent of the cookie script
 * (timezones/timezone.js): the chat renders with or without it.
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

  // "в сети", "был(а) в сети сегодня в 14:05" / "… 01.12.2026 в 14:05", or "" for a
  // presence entry (docs/protocol.md) that says nothing.
  function presence(info) {
    if (!info || typeof info !== "object") {
      return "";
    }
    if (info.online) {
      return "в сети";
    }
    var date = info.last_seen ? new Date(info.last_seen) : null;
    if (!date || isNaN(date.getTime())) {
      return "";
    }
    var when = window.PMTime.format(date, false); // "dd.mm.yyyy HH:MM" in the page's zone
    var day = when.slice(0, 10);
    var today = window.PMTime.format(new Date(), false).slice(0, 10);
    return "был(а) в сети " + (day === today ? "сегодня" : day) + " в " + when.slice(11);
  }

  window.PMTime = {
    presence: presence,
    format: function (date, withSeconds) {
      var parts = {};
      formatterFor(withSeconds).formatToParts(date).forEach(function (part) {
        parts[part.type] = part.value;
      });
      var text = parts.day + "." + parts.month + "." + parts.year + " " + parts.hour + ":" + parts.minute;
      return withSeconds ? text + ":" + parts.second : text;
    },
  };
})();
