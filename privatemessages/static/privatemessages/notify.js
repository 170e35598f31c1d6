/*
 * Browser notifications of new messages (Notification API).
 *
 * - Off by default. The header's "включить уведомления" button (#notify-toggle)
 *   asks the browser for permission only when clicked, never on page load,
 *   and then saves the user's setting (POST enabled=1|0 to its data-url).
 * - The chat and thread-list pages hand every "thread" frame to
 *   PMNotify.thread(frame). An incoming message is shown as a notification
 *   (the sender, a preview; a click opens the thread) unless some tab of this
 *   browser shows that thread's chat, visible.
 * - One notification per message across the tabs: only the tab that holds the
 *   "pm-notifier" Web Lock (one at a time, for its whole life) shows them; the
 *   others stand by and one of them takes over when that tab closes. The chat
 *   tabs tell the others which thread they show, and whether they are visible,
 *   over a BroadcastChannel. Without Web Locks, a claim in localStorage per
 *   message picks one tab instead. Each notification is tagged with the
 *   message id, so even two would replace each other.
 */
(function (root) {
  "use strict";

  var button = document.getElementById("notify-toggle");
  var supported = typeof root.Notification === "function";
  var enabled = !!button && button.dataset.enabled === "1";
  var tabId = Math.random().toString(36).slice(2) + Date.now().toString(36);
  var channel = null;
  var leader = false;
  var started = false;
  // tab id -> {thread, visible, at}: the chats open in this browser.
  var chats = new Map();
  var myChat = null; // the thread id this tab's chat shows, if any
  var notified = new Set(); // message ids this tab has decided on
  var STALE_AFTER = 30000;
  var ANNOUNCE_EVERY = 10000;

  try {
    channel = typeof root.BroadcastChannel === "function" ? new BroadcastChannel("pm-notify") : null;
  } catch (error) {
    channel = null;
  }

  function permission() {
    return supported ? root.Notification.permission : "denied";
  }

  function active() {
    return enabled && permission() === "granted";
  }

  // The button

  function drawButton() {
    if (!button) {
      return;
    }
    if (!supported) {
      button.hidden = true;
      return;
    }
    button.hidden = false;
    var on = active();
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? gettext("выключить уведомления") : gettext("включить уведомления");
    button.title =
      permission() === "denied"
        ? gettext("Уведомления запрещены в настройках браузера для этого сайта.")
        : on
          ? gettext("Новые сообщения показываются уведомлениями браузера.")
          : gettext("Показывать новые сообщения уведомлениями браузера.");
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input && input.value) {
      return input.value;
    }
    var match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function save(on) {
    var body = new URLSearchParams();
    body.set("enabled", on ? "1" : "0");
    return fetch(button.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: body,
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        setEnabled(!!(data && data.notifications), true);
      });
  }

  function setEnabled(on, tellOthers) {
    enabled = on;
    if (button) {
      button.dataset.enabled = on ? "1" : "0";
    }
    drawButton();
    if (tellOthers && channel) {
      channel.postMessage({ kind: "setting", enabled: on });
    }
  }

  if (button) {
    button.addEventListener("click", function () {
      if (!supported) {
        return;
      }
      if (active()) {
        save(false).catch(function () {
          button.title = gettext("Не удалось сохранить настройку, попробуйте ещё раз.");
        });
        return;
      }
      Promise.resolve(
        permission() === "granted" ? "granted" : root.Notification.requestPermission()
      ).then(function (answer) {
        if (answer !== "granted") {
          drawButton();
          button.title = gettext("Браузер не разрешил уведомления: их можно разрешить в настройках сайта.");
          return;
        }
        save(true).catch(function () {
          button.title = gettext("Не удалось сохранить настройку, попробуйте ещё раз.");
        });
      });
    });
  }

  // Which chats are open and visible in this browser

  function announce() {
    if (myChat === null) {
      return;
    }
    var entry = { thread: myChat, visible: document.visibilityState === "visible", at: Date.now() };
    chats.set(tabId, entry);
    if (channel) {
      channel.postMessage({ kind: "chat", tab: tabId, thread: entry.thread, visible: entry.visible });
    }
  }

  function someTabShows(threadId) {
    var now = Date.now();
    var shown = false;
    chats.forEach(function (entry, tab) {
      if (now - entry.at > STALE_AFTER) {
        chats.delete(tab);
      } else if (entry.thread === threadId && entry.visible) {
        shown = true;
      }
    });
    return shown;
  }

  if (channel) {
    channel.onmessage = function (event) {
      var data = event.data || {};
      if (data.kind === "chat" && typeof data.tab === "string") {
        chats.set(data.tab, { thread: Number(data.thread), visible: !!data.visible, at: Date.now() });
      } else if (data.kind === "gone" && typeof data.tab === "string") {
        chats.delete(data.tab);
      } else if (data.kind === "hello") {
        announce(); // a new tab asks who shows what
      } else if (data.kind === "setting") {
        setEnabled(!!data.enabled, false);
      }
    };
  }

  // Leadership: one tab of the browser shows the notifications.

  function elect() {
    if (root.navigator.locks && typeof root.navigator.locks.request === "function") {
      root.navigator.locks
        .request("pm-notifier", function () {
          leader = true;
          // Held until the tab goes away.
          return new Promise(function () {});
        })
        .catch(function () {
          leader = false;
        });
      return true;
    }
    return false;
  }

  var hasLocks = false;

  // Without Web Locks: the first tab to claim the message in localStorage shows it.
  function claim(messageId) {
    var key = "pm-notified:" + messageId;
    try {
      if (root.localStorage.getItem(key)) {
        return false;
      }
      root.localStorage.setItem(key, tabId);
      // Old claims are dropped now and then.
      if (Math.random() < 0.05) {
        for (var i = root.localStorage.length - 1; i >= 0; i--) {
          var name = root.localStorage.key(i);
          if (name && name.indexOf("pm-notified:") === 0 && name !== key) {
            root.localStorage.removeItem(name);
          }
        }
      }
      return root.localStorage.getItem(key) === tabId;
    } catch (error) {
      return true;
    }
  }

  // Show the notification of a "thread" frame (an incoming message).
  function show(frame) {
    var message = frame.last_message || {};
    var title = frame.partner || message.sender || gettext("Новое сообщение");
    var body = typeof frame.preview === "string" ? frame.preview : message.text || "";
    var url = typeof frame.url === "string" && frame.url.charAt(0) === "/" ? frame.url : "/messages/";
    var notification;
    try {
      notification = new root.Notification(title, {
        body: body,
        tag: "pm-message-" + message.id,
        data: { url: url, thread: frame.thread, message: message.id },
      });
    } catch (error) {
      return; // E.g. a browser that only shows them from a service worker.
    }
    notification.onclick = function (event) {
      if (event && event.preventDefault) {
        event.preventDefault();
      }
      root.focus();
      var compose = document.getElementById("compose-text");
      if (compose && compose.value.trim()) {
        root.open(url, "_blank"); // do not lose what is being typed here
      } else {
        root.location.assign(url);
      }
      notification.close();
    };
  }

  function onThread(frame) {
    if (!frame || frame.outgoing !== false || !active()) {
      return;
    }
    var message = frame.last_message || {};
    if (!message.id) {
      return;
    }
    if (notified.has(message.id)) {
      return; // the same message from this tab's other frame
    }
    notified.add(message.id);
    var threadId = Number(frame.thread);
    if (someTabShows(threadId)) {
      return;
    }
    if (hasLocks ? !leader : !claim(message.id)) {
      return;
    }
    show(frame);
  }

  // Called by the pages that have a socket: only they can be the one that shows.
  function start(threadId) {
    if (threadId) {
      myChat = Number(threadId);
      announce();
      document.addEventListener("visibilitychange", announce);
      root.setInterval(announce, ANNOUNCE_EVERY);
      root.addEventListener("pagehide", function () {
        chats.delete(tabId);
        if (channel) {
          channel.postMessage({ kind: "gone", tab: tabId });
        }
      });
    }
    if (!started) {
      started = true;
      hasLocks = elect();
      if (channel) {
        channel.postMessage({ kind: "hello", tab: tabId });
      }
    }
  }

  drawButton();

  root.PMNotify = {
    start: start,
    thread: onThread,
    enabled: active,
  };
})(window);
