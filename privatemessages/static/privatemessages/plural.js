/*
 * The Russian plural rule: the JavaScript twin of privatemessages/plural.py
 * (a test runs both over the same inputs). Exposes window.ruPlural(n, forms):
 *
 *   ruPlural(21, "сообщение,сообщения,сообщений")  // "сообщение"
 *
 * Negative numbers take the form of their absolute value, fractions the "few"
 * form, and anything that is not a number (null, "", "abc") the "many" form.
 */
(function (root) {
  "use strict";

  var NUMBER_RE = /^[ \t\n\r]*([+-]?)([0-9]+)(\.[0-9]+)?[ \t\n\r]*$/;

  function splitForms(forms) {
    var items;
    if (typeof forms === "string") {
      items = forms.split(",");
    } else if (Array.isArray(forms)) {
      items = forms.map(String);
    } else {
      items = [];
    }
    items = items.map(function (item) { return item.trim(); }).slice(0, 3);
    if (items.length === 0) {
      return ["", "", ""];
    }
    while (items.length < 3) {
      items.push(items[items.length - 1]);
    }
    return items;
  }

  // Return the number as {integer: true, value} or {integer: false}, or null.
  function asNumber(value) {
    if (typeof value === "boolean") {
      return { integer: true, value: value ? 1 : 0 };
    }
    if (typeof value === "number") {
      if (!isFinite(value)) {
        return null;
      }
      return Number.isInteger(value) ? { integer: true, value: value } : { integer: false };
    }
    if (typeof value === "string") {
      var match = NUMBER_RE.exec(value);
      if (!match) {
        return null;
      }
      if (match[3] && /[1-9]/.test(match[3])) {
        return { integer: false };
      }
      // Only the last two digits matter, which also keeps huge numbers exact.
      return { integer: true, value: Number(match[2].slice(-2)) };
    }
    return null;
  }

  function ruPlural(n, forms) {
    var f = splitForms(forms);
    var number = asNumber(n);
    if (number === null) {
      return f[2];
    }
    if (!number.integer) {
      return f[1];
    }
    var abs = Math.abs(number.value);
    var mod10 = abs % 10;
    var mod100 = abs % 100;
    if (mod10 === 1 && mod100 !== 11) {
      return f[0];
    }
    if (mod10 >= 2 && mod10 <= 4 && !(mod100 >= 12 && mod100 <= 14)) {
      return f[1];
    }
    return f[2];
  }

  root.ruPlural = ruPlural;
  if (typeof module === "object" && module.exports) {
    module.exports = ruPlural;
  }
})(typeof window !== "undefined" ? window : globalThis);
