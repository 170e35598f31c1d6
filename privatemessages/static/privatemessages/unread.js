/*
 * The user's unread total, in the page header (#unread-total) and in front of
 * the tab's title ("(3) Собеседники"), kept live by the chat and thread-list
 * pages (protocol: docs/protocol.md, "Read positions, unread counts...").
 *
 *   PMUnread.apply(total, version)   // from "synced".read, "unread", "thread", "threads"
 *
 * The server numbers every change of the total (version): a total is shown
 * only if its version is newer than the one shown, so frames that arrive late
 * or out of order cannot bring back an old count. Other pages show the total
 * the server rendered. Drawn with textContent only.
 */
(function (root) {
  "use strict";

  var badge = document.getElementById("unread-total");
  var TITLE_PREFIX = /^\(\d+\) /;
  var baseTitle = document.title.replace(TITLE_PREFIX, "");
  var shown = {
    total: badge ? Number(badge.dataset.count) || 0 : 0,
    version: badge ? Number(badge.dataset.version) || 0 : 0,
  };
  var listeners = [];

  function draw() {
    var total = shown.total;
    document.title = (total > 0 ? "(" + total + ") " : "") + baseTitle;
    if (!badge) {
      return;
    }
    badge.dataset.count = String(total);
    badge.dataset.version = String(shown.version);
    var number = badge.querySelector(".unread-badge__count");
    if (number) {
      number.textContent = total > 99 ? "99+" : String(total);
    }
    badge.hidden = total <= 0;
  }

  // Show *total* if *version* is newer than what is shown; true if it was.
  function apply(total, version) {
    total = Number(total);
    version = Number(version);
    if (!isFinite(total) || total < 0 || !isFinite(version)) {
      return false;
    }
    if (version <= shown.version) {
      return false;
    }
    shown.total = total;
    shown.version = version;
    draw();
    listeners.forEach(function (listener) {
      listener(total, version);
    });
    return true;
  }

  draw();

  root.PMUnread = {
    apply: apply,
    total: function () {
      return shown.total;
    },
    version: function () {
      return shown.version;
    },
    onChange: function (listener) {
      listeners.push(listener);
    },
  };
})(window);
