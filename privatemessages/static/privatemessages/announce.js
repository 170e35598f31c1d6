/*
 * Polite announcements for screen readers, for what changes on a page without
 * being a message of the chat's log: counters, the thread list, the length
 * near the limit.
 *
 *   PMAnnounce.say(text, key)
 *
 * One visually hidden status region per page. What is said waits until the
 * page has been quiet for a moment, and only the latest text of each *key*
 * is said: a counter that moves with every message of a burst, a list that
 * redraws on reconnect or a length that changes with every keystroke is said
 * once, as it ends up.
 */
(function (root) {
  "use strict";

  var QUIET = 1000;
  var region = document.createElement("div");
  region.className = "visually-hidden";
  region.setAttribute("role", "status");
  region.setAttribute("aria-live", "polite");
  region.setAttribute("aria-atomic", "true");
  region.id = "pm-announcer";
  // In the page from the start: a live region added together with its text is not read.
  document.body.append(region);

  var waiting = new Map();
  var timer = null;

  function flush() {
    timer = null;
    var text = Array.from(waiting.values()).join(". ");
    waiting.clear();
    // Emptied first, so the same text said twice is read twice.
    region.textContent = "";
    root.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  root.PMAnnounce = {
    say: function (text, key) {
      if (!text) {
        return;
      }
      var slot = key || text;
      // Re-inserted: the latest goes last.
      waiting.delete(slot);
      waiting.set(slot, text);
      root.clearTimeout(timer);
      timer = root.setTimeout(flush, QUIET);
    },
  };
})(window);
