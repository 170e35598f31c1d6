/*
 * The live chat page (protocol: docs/protocol.md). Needs plural.js and
 * socket.js, and the page's #chat section.
 *
 * - Every message is drawn with DOM nodes and textContent, never from HTML.
 * - Own messages show at once, marked pending, and are confirmed when the
 *   server echoes their client_id; refused ones are marked failed.
 * - Text sent while disconnected waits in an outbox (kept in the tab's
 *   sessionStorage, so a reload does not lose it either) and goes out after
 *   the next sync; the server saves each client_id once, so a resend never
 *   duplicates.
 * - On every (re)connect it asks for everything after the last id it shows.
 */
(function () {
  "use strict";

  var section = document.getElementById("chat");
  if (!section || !window.PMSocket) {
    return;
  }
  var list = document.getElementById("message-list");
  var form = document.getElementById("compose-form");
  var textarea = document.getElementById("compose-text");
  var stateEl = document.getElementById("connection-state");
  var counts = {
    total: document.getElementById("count-total"),
    word: document.getElementById("count-total-word"),
    received: document.getElementById("count-received"),
    sent: document.getElementById("count-sent"),
  };

  var threadId = Number(section.dataset.threadId);
  var userId = Number(section.dataset.userId);
  var username = section.dataset.username || "";
  var pluralForms = section.dataset.pluralForms || "сообщение,сообщения,сообщений";
  var RETRYABLE = { rate_limited: true, server_error: true };
  var OUTBOX_KEY = "pm-outbox:" + userId + ":" + threadId;

  var lastId = Number(section.dataset.lastId) || 0;
  var shown = new Set();
  // client_id -> {text, li}: sent (or to send) and not confirmed yet.
  var pending = new Map();
  var synced = false;
  var socketState = "connecting";
  var stateDetail = {};
  var ticker = null;

  Array.prototype.forEach.call(list.querySelectorAll("li[data-id]"), function (li) {
    var id = Number(li.dataset.id);
    shown.add(id);
    lastId = Math.max(lastId, id);
  });

  // Drawing

  function buildMessage(own, author, text, created) {
    var li = document.createElement("li");
    li.className = "message " + (own ? "message--own" : "message--partner");
    var authorEl = document.createElement("span");
    authorEl.className = "message__author";
    // Written text takes its direction from itself, isolated (site.css).
    authorEl.dir = "auto";
    // null: a deleted account, whose messages stay in the history.
    authorEl.textContent = author === null ? "(пользователь удалён)" : author;
    var timeEl = document.createElement("time");
    timeEl.className = "message__time";
    var textEl = document.createElement("div");
    textEl.className = "message__text";
    textEl.dir = "auto";
    textEl.textContent = text;
    li.append(authorEl, " ", timeEl, textEl);
    setTime(li, created);
    return li;
  }

  function setTime(li, created) {
    var timeEl = li.querySelector(".message__time");
    var date = new Date(created);
    timeEl.dateTime = date.toISOString().replace(/\.\d{3}Z$/, "Z");
    timeEl.textContent = window.PMTime.format(date, true);
  }

  function firstPendingLine() {
    return list.querySelector("li.message--pending, li.message--failed");
  }

  // Confirmed messages go above the lines still waiting for the server.
  function placeConfirmed(li) {
    var before = firstPendingLine();
    if (before === li) {
      return;
    }
    list.insertBefore(li, before);
  }

  function isAtNewest() {
    var last = list.lastElementChild;
    if (!last) {
      return true;
    }
    var scroller = list.parentElement;
    return last.getBoundingClientRect().top <= scroller.getBoundingClientRect().bottom + 8;
  }

  function showNewest() {
    var last = list.lastElementChild;
    if (last) {
      last.scrollIntoView({ block: "end" });
    }
  }

  function bumpCounters(own) {
    var total = Number(counts.total.textContent) + 1;
    counts.total.textContent = String(total);
    counts.word.textContent = window.ruPlural(total, pluralForms);
    var which = own ? counts.sent : counts.received;
    which.textContent = String(Number(which.textContent) + 1);
  }

  // Server frames

  function onMessage(message) {
    var atNewest = isAtNewest();
    var mine = message.client_id ? pending.get(message.client_id) : null;
    if (shown.has(message.id)) {
      if (mine) {
        // Already drawn (a replay got here first): drop the pending copy.
        mine.li.remove();
        forget(message.client_id);
      }
      return;
    }
    var li;
    if (mine) {
      li = mine.li;
      li.classList.remove("message--pending", "message--failed");
      li.removeAttribute("title");
      delete li.dataset.clientId;
      setTime(li, message.created);
      forget(message.client_id);
    } else {
      li = buildMessage(message.sender_id === userId, message.sender, message.text, message.created);
    }
    li.dataset.id = String(message.id);
    placeConfirmed(li);
    shown.add(message.id);
    lastId = Math.max(lastId, message.id);
    bumpCounters(message.sender_id === userId);
    if (atNewest || mine) {
      showNewest();
    }
  }

  function onError(frame) {
    var entry = frame.client_id ? pending.get(frame.client_id) : null;
    if (!entry) {
      if (window.console) {
        console.warn("chat: " + frame.code + ": " + frame.detail);
      }
      return;
    }
    if (RETRYABLE[frame.code]) {
      setTimeout(function () {
        if (pending.has(frame.client_id) && synced) {
          sendPending(frame.client_id);
        }
      }, 1000 + Math.random() * 1000);
      return;
    }
    // Refused for good (empty, too long...): keep it on screen, marked.
    entry.li.classList.remove("message--pending");
    entry.li.classList.add("message--failed");
    entry.li.title = frame.detail;
    forget(frame.client_id);
  }

  function onFrame(frame) {
    if (frame.type === "message") {
      onMessage(frame);
    } else if (frame.type === "synced") {
      if (frame.more) {
        socket.send({ type: "sync", after: lastId });
        return;
      }
      synced = true;
      pending.forEach(function (entry, clientId) {
        sendPending(clientId);
      });
      render();
    } else if (frame.type === "error") {
      onError(frame);
    }
  }

  // Sending

  function newClientId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return (b + 0x100).toString(16).slice(1);
      })
      .join("");
  }

  function sendPending(clientId) {
    var entry = pending.get(clientId);
    if (entry) {
      socket.send({ type: "message", text: entry.text, client_id: clientId });
    }
  }

  function queue(text, clientId, created) {
    var li = buildMessage(true, username, text, created || new Date());
    li.classList.add("message--pending");
    li.dataset.clientId = clientId;
    list.appendChild(li);
    pending.set(clientId, { text: text, li: li, created: li.querySelector("time").dateTime });
  }

  function compose() {
    var text = textarea.value.trim();
    if (!text) {
      return;
    }
    var clientId = newClientId();
    queue(text, clientId);
    saveOutbox();
    textarea.value = "";
    showNewest();
    if (synced) {
      sendPending(clientId);
    } else {
      render();
    }
  }

  function forget(clientId) {
    pending.delete(clientId);
    saveOutbox();
    render();
  }

  // The outbox survives a reload: what was typed is never silently lost.

  function saveOutbox() {
    try {
      var items = [];
      pending.forEach(function (entry, clientId) {
        items.push({ client_id: clientId, text: entry.text, created: entry.created });
      });
      if (items.length) {
        window.sessionStorage.setItem(OUTBOX_KEY, JSON.stringify(items));
      } else {
        window.sessionStorage.removeItem(OUTBOX_KEY);
      }
    } catch (error) {
      // No storage: the outbox lives as long as the page.
    }
  }

  function loadOutbox() {
    var items = [];
    try {
      items = JSON.parse(window.sessionStorage.getItem(OUTBOX_KEY) || "[]");
    } catch (error) {
      return;
    }
    if (!Array.isArray(items)) {
      return;
    }
    items.forEach(function (item) {
      if (item && typeof item.client_id === "string" && typeof item.text === "string") {
        queue(item.text, item.client_id, item.created);
      }
    });
  }

  // Connection state

  function render() {
    PMSocket.describeState(stateEl, socketState, stateDetail, synced ? 0 : pending.size);
    section.dataset.connection = synced ? "synced" : socketState;
  }

  function onState(state, detail) {
    socketState = state;
    stateDetail = detail;
    if (state !== "open") {
      synced = false;
    }
    clearInterval(ticker);
    if (state === "waiting") {
      ticker = setInterval(render, 1000);
    }
    render();
  }

  loadOutbox();

  var socket = PMSocket.connect({
    path: section.dataset.wsPath,
    onState: onState,
    onFrame: onFrame,
    onOpen: function () {
      socket.send({ type: "sync", after: lastId });
    },
    // Also the periodic catch-up: anything a live event missed comes now.
    heartbeat: function () {
      return { type: "sync", after: lastId };
    },
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    compose();
    textarea.focus();
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      compose();
    }
  });
  showNewest();
})();
