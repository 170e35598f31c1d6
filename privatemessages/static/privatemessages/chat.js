/*
 * The live chat page (protocol: docs/protocol.md). Needs Django's JavaScript
 * catalog (gettext, ngettext, interpolate), time.js and socket.js, and the
 * page's #chat section; uses unread.js and notify.js
 * when the page has them (base.html loads them for a signed-in user).
 *
 * - Every message is drawn with DOM nodes and textContent, never from HTML.
 * - Own messages show at once, marked pending, and are confirmed when the
 *   server echoes their client_id. A refused one says why under the bubble,
 *   with "повторить" (a new send) and "удалить"; it keeps its place, and newer
 *   messages go below it. One confirmed more than 5 s after it was typed
 *   (typed offline) says "отправлено позже" next to the server's time.
 * - Text sent while disconnected waits in an outbox (kept in the tab's
 *   sessionStorage, so a reload does not lose it either) and goes out after
 *   the next sync; the server saves each client_id once, so a resend never
 *   duplicates.
 * - On every (re)connect it asks for everything after the last id it shows.
 * - Read marking: while the chat is visible and scrolled to its newest line,
 *   a "read" frame (at most one a second) moves the user's read position.
 *   Own messages show ✓ (delivered) or ✓✓ (read by the partner), live.
 * - Typing: a "typing" frame at most every 4 s while the user types; the
 *   partner's shows "печатает…" for 8 s, or until their message arrives.
 * - Presence of the partner in the header, from "presence" frames.
 * - Older history: scrolling to the top loads the previous 100 messages
 *   (the JSON history endpoint), keeping what is on screen in place; without
 *   JavaScript the "Ранние сообщения" link opens them as a page.
 * - The compose box: a whitespace-only or over-long text is not sent and the
 *   page says why; a character counter shows near the limit.
 */
(function () {
  "use strict";

  var section = document.getElementById("chat");
  if (!section || !window.PMSocket) {
    return;
  }
  // An older page (?before=): a plain page, with a link back to the live one.
  if (section.dataset.newest === "0") {
    return;
  }
  var list = document.getElementById("message-list");
  var scroller = list.parentElement;
  var form = document.getElementById("compose-form");
  var textarea = document.getElementById("compose-text");
  var stateEl = document.getElementById("connection-state");
  var composeError = document.getElementById("compose-error");
  var counter = document.getElementById("compose-counter");
  var typingEl = document.getElementById("typing-indicator");
  var presenceEl = document.getElementById("partner-presence");
  var olderLink = document.getElementById("older-link");
  var jumpLink = document.getElementById("jump-unread");
  var counts = {
    total: document.getElementById("count-total"),
    word: document.getElementById("count-total-word"),
    received: document.getElementById("count-received"),
    sent: document.getElementById("count-sent"),
  };

  var threadId = Number(section.dataset.threadId);
  var userId = Number(section.dataset.userId);
  var username = section.dataset.username || "";
  var partnerId = Number(section.dataset.partnerId) || null;
  var historyUrl = section.dataset.historyUrl || "";
  var RETRYABLE = { rate_limited: true, server_error: true };
  var OUTBOX_KEY = "pm-outbox:" + userId + ":" + threadId;
  var MAX_LENGTH = Number(textarea.dataset.maxLength || textarea.getAttribute("maxlength")) || 10000;
  // The counter shows from here on.
  var COUNTER_FROM = Math.floor(MAX_LENGTH * 0.9);
  var READ_EVERY = 1000;
  var TYPING_EVERY = 4000;
  var TYPING_SHOWN = 8000;
  // A message confirmed this much later than it was typed says so (a
  // round trip takes well under a second).
  var LATE_AFTER = 5000;
  // What the server counts as nothing to send (services._is_blank).
  var BLANK = /^[\p{Cc}\p{Cf}\p{Zs}\p{Zl}\p{Zp}\p{Mn}\p{Me}\u115f\u1160\u3164\uffa0\u2800]*$/u;

  var lastId = Number(section.dataset.lastId) || 0;
  var shown = new Set();
  // client_id -> {text, li, created}: sent (or to send) and not confirmed yet.
  var pending = new Map();
  var synced = false;
  var socketState = "connecting";
  var stateDetail = {};
  var ticker = null;

  // Read positions: the user's own, and the partner's (for the ticks).
  var myReadId = Number(section.dataset.lastReadId) || 0;
  var partnerReadId = Number(section.dataset.partnerLastReadId) || 0;
  var receipts = section.dataset.receipts !== "0";
  var readSentId = 0;
  var readSentAt = 0;
  var readTimer = null;

  // The JavaScript counts the length and says so: no silent cut by maxlength.
  textarea.removeAttribute("maxlength");

  Array.prototype.forEach.call(list.querySelectorAll("li[data-id]"), function (li) {
    var id = Number(li.dataset.id);
    shown.add(id);
    lastId = Math.max(lastId, id);
  });
  // The page was read when it was served (the view moved the read position).
  myReadId = Math.max(myReadId, lastId);

  // Drawing

  function receiptEl(read) {
    var el = document.createElement("span");
    el.className = "message__receipt";
    setReceipt(el, read);
    return el;
  }

  function setReceipt(el, read) {
    var state = read ? "read" : "sent";
    if (el.dataset.state === state && el.childNodes.length) {
      return;
    }
    el.dataset.state = state;
    var mark = document.createElement("span");
    mark.setAttribute("aria-hidden", "true");
    mark.textContent = read ? "✓✓" : "✓";
    var words = document.createElement("span");
    words.className = "visually-hidden";
    words.textContent = read ? gettext("прочитано") : gettext("доставлено");
    el.replaceChildren(mark, words);
  }

  function buildMessage(own, author, text, created) {
    var li = document.createElement("li");
    li.className = "message " + (own ? "message--own" : "message--partner");
    var authorEl = document.createElement("span");
    authorEl.className = "message__author";
    // Written text takes its direction from itself, isolated (site.css).
    authorEl.dir = "auto";
    // null: a deleted account, whose messages stay in the history.
    authorEl.textContent = author === null ? gettext("(пользователь удалён)") : author;
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

  // A confirmed message's line (a live one or one from the history).
  function buildConfirmed(message) {
    var own = message.sender_id === userId;
    var li = buildMessage(own, message.sender, message.text, message.created);
    li.dataset.id = String(message.id);
    // A bot partner's buttons and card (bot_message.js).
    if (message.attachments && window.PMBotMessage) {
      window.PMBotMessage.decorate(li, message.attachments);
    }
    if (own) {
      addReceipt(li, message.id);
    }
    return li;
  }

  function addReceipt(li, id) {
    if (li.querySelector(".message__receipt")) {
      return;
    }
    li.querySelector(".message__time").after(" ", receiptEl(receipts && id <= partnerReadId));
  }

  function setTime(li, created) {
    var timeEl = li.querySelector(".message__time");
    var date = new Date(created);
    window.PMTime.show(timeEl, date);
  }

  // A line's state in words, for screen readers: the dashed outline and the
  // "…" after the time are only seen.
  function setStatus(li, text) {
    var el = li.querySelector(".message__status");
    if (!text) {
      if (el) {
        el.remove();
      }
      return;
    }
    if (!el) {
      el = document.createElement("span");
      el.className = "message__status visually-hidden";
      li.querySelector(".message__time").after(el);
    }
    el.textContent = " (" + text + ")";
  }

  // Said once a burst settles, not with every message (announce.js).
  function announceCounters() {
    if (window.PMAnnounce) {
      var text = counts.total.parentElement.textContent.replace(/\s+/g, " ").trim();
      window.PMAnnounce.say(text, "counters");
    }
  }

  // The length near the limit, said when typing pauses, not at every keystroke.
  function announceLength() {
    if (window.PMAnnounce && counter && !counter.hidden) {
      window.PMAnnounce.say(counter.textContent, "compose-counter");
    }
  }

  function firstPendingLine() {
    return list.querySelector("li.message--pending");
  }

  // Confirmed messages go above the lines still waiting for the server. A
  // refused line stays where it was: newer messages go below it.
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
    counts.word.textContent = npgettext("message count", "сообщение", "сообщений", total);
    var which = own ? counts.sent : counts.received;
    which.textContent = String(Number(which.textContent) + 1);
  }

  // Receipts: every own line at or below the partner's position shows ✓✓.

  function drawReceipts() {
    var lines = list.querySelectorAll("li.message--own[data-id]");
    for (var i = lines.length - 1; i >= 0; i--) {
      var li = lines[i];
      var el = li.querySelector(".message__receipt");
      if (!el) {
        continue;
      }
      setReceipt(el, receipts && Number(li.dataset.id) <= partnerReadId);
    }
  }

  function partnerRead(lastReadId) {
    lastReadId = Number(lastReadId) || 0;
    if (lastReadId > partnerReadId) {
      partnerReadId = lastReadId;
      drawReceipts();
    }
  }

  // Reading: the chat is visible and scrolled to its newest line.

  function canRead() {
    return synced && document.visibilityState === "visible" && isAtNewest();
  }

  function markRead() {
    if (!canRead() || lastId <= myReadId || lastId <= readSentId) {
      return;
    }
    var wait = readSentAt + READ_EVERY - Date.now();
    if (wait > 0) {
      if (!readTimer) {
        readTimer = setTimeout(function () {
          readTimer = null;
          markRead();
        }, wait);
      }
      return;
    }
    if (socket.send({ type: "read", last_id: lastId })) {
      readSentId = lastId;
      readSentAt = Date.now();
    }
  }

  function applyUnread(read) {
    if (!read || typeof read !== "object") {
      return;
    }
    if (Number(read.last_read_id) > myReadId) {
      myReadId = Number(read.last_read_id);
    }
    if (window.PMUnread && read.unread_total !== undefined && read.version !== undefined) {
      window.PMUnread.apply(read.unread_total, read.version);
    }
  }

  // Typing

  var typingTimer = null;
  var typingSentAt = 0;

  function showTyping(frame) {
    if (!typingEl) {
      return;
    }
    var who = typeof frame.sender === "string" && frame.sender ? frame.sender : section.dataset.partner;
    typingEl.dataset.userId = String(frame.user_id);
    typingEl.textContent = who ? interpolate(gettext("%s печатает…"), [who]) : gettext("печатает…");
    typingEl.classList.add("typing--on");
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_SHOWN);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    if (typingEl) {
      typingEl.textContent = "";
      typingEl.classList.remove("typing--on");
      delete typingEl.dataset.userId;
    }
  }

  function onInput() {
    drawCounter();
    announceLength();
    if (composeError && !composeError.hidden && textarea.value.trim()) {
      showComposeError("");
    }
    if (!textarea.value.trim() || !synced) {
      return;
    }
    var now = Date.now();
    if (now - typingSentAt >= TYPING_EVERY && socket.send({ type: "typing" })) {
      typingSentAt = now;
    }
  }

  // Presence

  // The partner's entry of the last presence frame: the keepalive sends one
  // only when it changed, and each "synced" draws it again ("yesterday" moves).
  var partnerPresence = null;

  function onPresence(frame) {
    if (!presenceEl || !partnerId || !frame.users || typeof frame.users !== "object") {
      return;
    }
    partnerPresence = frame.users[String(partnerId)];
    drawPresence();
  }

  function drawPresence() {
    var info = partnerPresence;
    var text = info && typeof info === "object" ? window.PMTime.presence(info) : "";
    if (presenceEl.textContent !== text) {
      presenceEl.textContent = text;
    }
    presenceEl.dataset.online = info && info.online ? "1" : "0";
    presenceEl.hidden = !text;
  }

  // Server frames

  function onMessage(message) {
    var atNewest = isAtNewest();
    var mine = message.client_id ? pending.get(message.client_id) : null;
    if (message.sender_id !== userId && typingEl && typingEl.dataset.userId === String(message.sender_id)) {
      hideTyping();
    }
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
      setStatus(li, "");
      li.removeAttribute("title");
      delete li.dataset.clientId;
      setTime(li, message.created);
      markLate(li, mine.created);
      li.dataset.id = String(message.id);
      addReceipt(li, message.id);
      forget(message.client_id);
    } else {
      li = buildConfirmed(message);
    }
    placeConfirmed(li);
    shown.add(message.id);
    lastId = Math.max(lastId, message.id);
    if (message.sender_id === userId) {
      // Sending moves the sender's read position to it.
      myReadId = Math.max(myReadId, message.id);
    }
    bumpCounters(message.sender_id === userId);
    announceCounters();
    if (atNewest || mine) {
      showNewest();
    }
    markRead();
    // Not for a backlog replayed after a long disconnection.
    var recent = Date.now() - new Date(message.created).getTime() < 120000;
    if (message.sender_id !== userId && recent && window.PMNotify) {
      // A notification if this chat is hidden (notify.js decides, once per message).
      window.PMNotify.thread({
        type: "thread",
        thread: threadId,
        url: window.location.pathname,
        partner: message.sender,
        preview: Array.from(message.text || "").slice(0, 80).join(""),
        outgoing: false,
        last_message: message,
      });
    }
  }

  // "отправлено позже": confirmed well after it was typed (offline). Both
  // times by this browser's clock, so a clock that is off does not count.
  function markLate(li, typed) {
    var typedAt = new Date(typed).getTime();
    if (!(Date.now() - typedAt > LATE_AFTER) || li.querySelector(".message__late")) {
      return;
    }
    var note = document.createElement("span");
    note.className = "message__late";
    note.textContent = gettext("отправлено позже");
    note.title = interpolate(gettext("Написано %s, отправлено, когда появилась связь."), [
      window.PMTime.full(new Date(typedAt)),
    ]);
    li.querySelector(".message__time").after(" ", note);
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
      var wait = frame.retry_after ? Number(frame.retry_after) * 1000 : 1000;
      setTimeout(function () {
        if (pending.has(frame.client_id) && synced) {
          sendPending(frame.client_id);
        }
      }, wait + Math.random() * 1000);
      return;
    }
    // Refused for good (empty, too long...): keep it on screen, say why.
    failed(entry, frame.detail || gettext("Сообщение не отправлено."));
    forget(frame.client_id);
  }

  function failed(entry, reason) {
    var li = entry.li;
    li.classList.remove("message--pending");
    // Its failure box says it in words (an alert).
    setStatus(li, "");
    li.classList.add("message--failed");
    delete li.dataset.clientId;
    var box = document.createElement("div");
    box.className = "message__failure";
    var why = document.createElement("p");
    why.className = "message__error";
    why.setAttribute("role", "alert");
    why.textContent = interpolate(gettext("Не отправлено: %s"), [reason]);
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "message__action";
    retry.textContent = gettext("повторить");
    retry.addEventListener("click", function () {
      li.remove();
      send(entry.text, entry.button);
      textarea.focus();
    });
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "message__action";
    remove.textContent = gettext("удалить");
    remove.addEventListener("click", function () {
      li.remove();
      textarea.focus();
    });
    box.append(why, retry, " ", remove);
    li.append(box);
  }

  function onFrame(frame) {
    if (frame.type === "message") {
      // The receiver's counts may come with it (unread_total, version).
      if (window.PMUnread && frame.unread_total !== undefined && frame.version !== undefined) {
        window.PMUnread.apply(frame.unread_total, frame.version);
      }
      onMessage(frame);
    } else if (frame.type === "synced") {
      applyUnread(frame.read);
      if (frame.read && frame.read.partners && typeof frame.read.partners === "object") {
        Object.keys(frame.read.partners).forEach(function (id) {
          if (Number(id) !== userId) {
            partnerRead(frame.read.partners[id]);
          }
        });
      }
      if (frame.more) {
        socket.send({ type: "sync", after: lastId });
        return;
      }
      synced = true;
      if (partnerPresence) {
        drawPresence();
      }
      pending.forEach(function (entry, clientId) {
        sendPending(clientId);
      });
      render();
      markRead();
    } else if (frame.type === "read") {
      if (Number(frame.thread) === threadId && Number(frame.user_id) !== userId) {
        partnerRead(frame.last_read_id);
      }
    } else if (frame.type === "unread") {
      if (Number(frame.thread) === threadId) {
        applyUnread(frame);
      } else if (window.PMUnread) {
        window.PMUnread.apply(frame.unread_total, frame.version);
      }
    } else if (frame.type === "typing") {
      if (Number(frame.user_id) !== userId && (!frame.thread || Number(frame.thread) === threadId)) {
        showTyping(frame);
      }
    } else if (frame.type === "presence") {
      onPresence(frame);
    } else if (frame.type === "thread") {
      if (window.PMUnread && frame.unread_total !== undefined && frame.version !== undefined) {
        window.PMUnread.apply(frame.unread_total, frame.version);
      }
      if (window.PMNotify) {
        window.PMNotify.thread(frame);
      }
      // Another conversation's news (this one's are in the log), said politely.
      if (window.PMAnnounce && frame.outgoing === false && Number(frame.thread) !== threadId) {
        var partner = frame.partner || gettext("(пользователь удалён)");
        window.PMAnnounce.say(
          interpolate(gettext("Новое сообщение от %(partner)s"), { partner: partner }, true),
          "thread:" + frame.thread
        );
      }
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
      var frame = { type: "message", text: entry.text, client_id: clientId };
      // A bot's chip: which button of which message (bot_message.js).
      if (entry.button) {
        frame.button = entry.button;
      }
      socket.send(frame);
    }
  }

  function queue(text, clientId, created, button) {
    var li = buildMessage(true, username, text, created || new Date());
    li.classList.add("message--pending");
    setStatus(li, gettext("отправляется"));
    li.dataset.clientId = clientId;
    list.appendChild(li);
    pending.set(clientId, {
      text: text,
      li: li,
      created: li.querySelector("time").dateTime,
      button: button || null,
    });
  }

  function length(text) {
    // Characters as the server counts them (code points), not UTF-16 units.
    return Array.from(text).length;
  }

  function formatNumber(n) {
    return n.toLocaleString(document.documentElement.lang || undefined);
  }

  function tooLong(n) {
    return interpolate(
      ngettext(
        "Сообщение длиннее %(limit)s символа (%(length)s): сократите его на %(excess)s или разделите на несколько.",
        "Сообщение длиннее %(limit)s символов (%(length)s): сократите его на %(excess)s или разделите на несколько.",
        MAX_LENGTH
      ),
      { limit: formatNumber(MAX_LENGTH), length: formatNumber(n), excess: formatNumber(n - MAX_LENGTH) },
      true
    );
  }

  function drawCounter() {
    if (!counter) {
      return;
    }
    var n = length(textarea.value.trim());
    counter.hidden = n < COUNTER_FROM;
    counter.textContent = formatNumber(n) + " / " + formatNumber(MAX_LENGTH);
    counter.classList.toggle("compose__counter--over", n > MAX_LENGTH);
    if (n > MAX_LENGTH) {
      textarea.setAttribute("aria-invalid", "true");
    } else if (!composeError || composeError.hidden) {
      textarea.removeAttribute("aria-invalid");
    }
  }

  function showComposeError(text) {
    if (!composeError) {
      return;
    }
    composeError.textContent = text;
    composeError.hidden = !text;
    if (text) {
      textarea.setAttribute("aria-invalid", "true");
    } else {
      textarea.removeAttribute("aria-invalid");
    }
  }

  function send(text, button) {
    var clientId = newClientId();
    queue(text, clientId, null, button);
    saveOutbox();
    showNewest();
    if (synced) {
      sendPending(clientId);
    } else {
      render();
    }
  }

  function compose() {
    var text = textarea.value.trim();
    if (!text || BLANK.test(text)) {
      showComposeError(gettext("Сообщение пустое: напишите что-нибудь, кроме пробелов."));
      return;
    }
    var n = length(text);
    if (n > MAX_LENGTH) {
      showComposeError(tooLong(n));
      return;
    }
    showComposeError("");
    send(text);
    textarea.value = "";
    // The next message's typing may be told soon, but not within the second
    // after the last one (the server drops those).
    typingSentAt = Math.min(typingSentAt, Date.now() - TYPING_EVERY + 1100);
    drawCounter();
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
        items.push({
          client_id: clientId,
          text: entry.text,
          created: entry.created,
          button: entry.button,
        });
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
        queue(item.text, item.client_id, item.created, item.button);
      }
    });
  }

  // Older history, on scrolling to the top

  var loadingOlder = false;
  var olderDone = !olderLink || !historyUrl;

  function firstShownId() {
    var first = list.querySelector("li[data-id]");
    return first ? Number(first.dataset.id) : 0;
  }

  function loadOlder() {
    if (loadingOlder || olderDone) {
      return;
    }
    var before = firstShownId();
    if (!before) {
      olderDone = true;
      return;
    }
    loadingOlder = true;
    section.dataset.history = "loading";
    var url = historyUrl + (historyUrl.indexOf("?") === -1 ? "?" : "&") + "before=" + before;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        var messages = data && Array.isArray(data.messages) ? data.messages : [];
        prependOlder(messages);
        if (!data.more || !messages.length) {
          olderDone = true;
          if (olderLink) {
            olderLink.remove();
            olderLink = null;
          }
        } else if (olderLink) {
          var link = new URL(olderLink.href, window.location.href);
          link.searchParams.set("before", String(firstShownId()));
          olderLink.href = link.pathname + link.search;
        }
        section.dataset.history = olderDone ? "all" : "more";
      })
      .catch(function () {
        section.dataset.history = "error";
      })
      .then(function () {
        loadingOlder = false;
        // Still at the top (a short page): the next one.
        if (!olderDone && olderLink && nearTop()) {
          setTimeout(loadOlder, 200);
        }
      });
  }

  function prependOlder(messages) {
    // Keep what is on screen in place: measure a line before and after.
    var anchor = list.querySelector("li[data-id]") || list.firstElementChild;
    var before = anchor ? anchor.getBoundingClientRect().top : 0;
    var fragment = document.createDocumentFragment();
    messages.forEach(function (message) {
      if (!message || shown.has(message.id)) {
        return;
      }
      shown.add(message.id);
      fragment.append(buildConfirmed(message));
    });
    // Busy while old lines go in: the log reads out new messages, not a page of history.
    scroller.setAttribute("aria-busy", "true");
    list.insertBefore(fragment, list.firstElementChild);
    window.requestAnimationFrame(function () {
      scroller.removeAttribute("aria-busy");
    });
    if (anchor) {
      var moved = anchor.getBoundingClientRect().top - before;
      if (moved) {
        scroller.scrollTop += moved;
      }
    }
  }

  function nearTop() {
    var first = list.firstElementChild;
    if (!first) {
      return false;
    }
    return first.getBoundingClientRect().top >= scroller.getBoundingClientRect().top - 200;
  }

  if (olderLink && historyUrl) {
    olderLink.addEventListener("click", function (event) {
      event.preventDefault();
      loadOlder();
    });
  }

  var scrollQueued = false;
  scroller.addEventListener(
    "scroll",
    function () {
      if (scrollQueued) {
        return;
      }
      scrollQueued = true;
      window.requestAnimationFrame(function () {
        scrollQueued = false;
        if (!olderDone && nearTop()) {
          loadOlder();
        }
        markRead();
      });
    },
    { passive: true }
  );

  // Connection state

  function render() {
    PMSocket.describeState(stateEl, socketState, stateDetail, synced ? 0 : pending.size, function () {
      socket.reconnectNow();
    });
    section.dataset.connection = synced ? "synced" : socketState;
  }

  function onState(state, detail) {
    socketState = state;
    stateDetail = detail;
    if (state !== "open") {
      synced = false;
      // A read frame on a dropped socket may be lost: the next synced says where we are.
      readSentId = 0;
      hideTyping();
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
      // Says whether the tab is visible (presence); the server also sends
      // "presence" frames only to a client that sent one.
      socket.send({ type: "activity", active: document.visibilityState === "visible" });
      socket.send({ type: "sync", after: lastId });
    },
    // The server's keepalive also catches up anything a live event missed.
    keepaliveEvery: Number(section.dataset.keepalive) * 1000,
  });

  document.addEventListener("visibilitychange", function () {
    socket.send({ type: "activity", active: document.visibilityState === "visible" });
    markRead();
  });

  if (window.PMNotify) {
    window.PMNotify.start(threadId);
  }

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
  textarea.addEventListener("input", onInput);
  drawCounter();
  // A bot's chip was tapped: sent like a typed message (bot_message.js).
  section.addEventListener("pm:button", function (event) {
    send(event.detail.text, event.detail.button);
  });

  var divider = document.getElementById("unread-divider");
  if (jumpLink && divider) {
    jumpLink.addEventListener("click", function (event) {
      event.preventDefault();
      divider.scrollIntoView({ block: "start" });
      divider.focus({ preventScroll: true });
    });
  } else if (jumpLink) {
    jumpLink.hidden = true;
  }
  // Open at the first unread message if there is one, else at the newest.
  if (divider) {
    divider.scrollIntoView({ block: "start" });
  } else {
    showNewest();
  }
})();
