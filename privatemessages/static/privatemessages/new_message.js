/*
 * The thread list's new-message form (privatemessages/_message_form.html).
 *
 * - Username suggestions for the "Кому" field: as one types, the field's
 *   <datalist> is filled from GET <data-suggest-url>?q=<prefix>
 *   ({"users": [...]}, up to 8 names), 200 ms after the last key. The partners
 *   already in the list stay suggested too. A 429 waits its retry_after.
 * - The text: nothing is cut by maxlength; a counter shows near the limit, and
 *   a text that is only spaces or too long is not sent, with a visible reason.
 *   (Without JavaScript the server says the same.)
 *
 * Drawn with DOM nodes and textContent only.
 */
(function () {
  "use strict";

  var input = document.getElementById("new-message-recipient");
  var url = input && input.dataset.suggestUrl;
  var datalist = input && document.getElementById(input.getAttribute("list"));
  if (!input || !url || !datalist || typeof fetch !== "function") {
    return;
  }
  var DEBOUNCE = 200;
  var known = Array.prototype.map.call(datalist.options, function (option) {
    return option.value;
  });
  var timer = null;
  var controller = null;
  var blockedUntil = 0;
  var cache = new Map();

  function fill(names) {
    var seen = new Set();
    var options = [];
    names.concat(known).forEach(function (name) {
      if (typeof name === "string" && name && !seen.has(name)) {
        seen.add(name);
        var option = document.createElement("option");
        option.value = name;
        options.push(option);
      }
    });
    datalist.replaceChildren.apply(datalist, options);
  }

  function lookUp(query) {
    if (cache.has(query)) {
      fill(cache.get(query));
      return;
    }
    var wait = blockedUntil - Date.now();
    if (wait > 0) {
      timer = setTimeout(function () {
        lookUp(input.value.trim());
      }, wait);
      return;
    }
    if (controller) {
      controller.abort();
    }
    controller = typeof AbortController === "function" ? new AbortController() : null;
    var address = url + (url.indexOf("?") === -1 ? "?" : "&") + "q=" + encodeURIComponent(query);
    fetch(address, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return response.json().then(function (data) {
          if (response.status === 429) {
            var after = Number(data && data.retry_after) || 1;
            blockedUntil = Date.now() + after * 1000;
            return;
          }
          if (!response.ok || !data || !Array.isArray(data.users)) {
            return;
          }
          cache.set(query, data.users);
          if (input.value.trim() === query) {
            fill(data.users);
          }
        });
      })
      .catch(function () {
        // Aborted by a newer query, or offline: the known partners remain.
      });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    var query = input.value.trim();
    if (!query) {
      fill([]);
      return;
    }
    timer = setTimeout(function () {
      lookUp(query);
    }, DEBOUNCE);
  });
})();

(function () {
  "use strict";

  var form = document.getElementById("new-message-form");
  var textarea = document.getElementById("new-message-text");
  var check = document.getElementById("new-message-text-check");
  var counter = document.getElementById("new-message-text-counter");
  if (!form || !textarea || !check || !counter) {
    return;
  }
  var MAX_LENGTH = Number(textarea.dataset.maxLength || textarea.getAttribute("maxlength")) || 10000;
  var COUNTER_FROM = Math.floor(MAX_LENGTH * 0.9);
  // What the server counts as nothing to send (services._is_blank).
  var BLANK = /^[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]*$/u;
  textarea.removeAttribute("maxlength");

  function length() {
    return Array.from(textarea.value.trim()).length;
  }

  function number(n) {
    return n.toLocaleString(document.documentElement.lang || undefined);
  }

  function say(text) {
    check.textContent = text;
    check.hidden = !text;
    if (text) {
      textarea.setAttribute("aria-invalid", "true");
    } else if (!document.getElementById("new-message-text-errors")) {
      textarea.removeAttribute("aria-invalid");
    }
  }

  function drawCounter() {
    var n = length();
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = number(n) + " / " + number(MAX_LENGTH);
    counter.classList.toggle("compose__counter--over", n > MAX_LENGTH);
  }

  textarea.addEventListener("input", function () {
    drawCounter();
    if (!check.hidden && length() <= MAX_LENGTH && textarea.value.trim()) {
      say("");
    }
  });
  form.addEventListener("submit", function (event) {
    var text = textarea.value.trim();
    var n = length();
    if (!text || BLANK.test(text)) {
      say(gettext("Сообщение пустое: напишите что-нибудь, кроме пробелов."));
    } else if (n > MAX_LENGTH) {
      say(
        interpolate(
          ngettext(
            "Сообщение длиннее %(limit)s символа (%(length)s): сократите его на %(excess)s или разделите на несколько.",
            "Сообщение длиннее %(limit)s символов (%(length)s): сократите его на %(excess)s или разделите на несколько.",
            MAX_LENGTH
          ),
          { limit: number(MAX_LENGTH), length: number(n), excess: number(n - MAX_LENGTH) },
          true
        )
      );
    } else {
      say("");
      return;
    }
    event.preventDefault();
    textarea.focus();
  });
  drawCounter();
})();
