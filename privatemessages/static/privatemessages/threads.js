/*
 * The live thread list (protocol: docs/protocol.md). Needs Django's
 * JavaScript catalog, time.js and socket.js, and the page's #threads section; uses unread.js
 * and notify.js when the page has them.
 *
 * A new message in any of the user's threads moves that thread to the top
 * with its new count, unread badge, preview and time; a new thread appears.
 * Reading elsewhere (another tab, the phone) clears a thread's badge and the
 * header total. The partner's presence shows on each line. On every
 * (re)connect the whole list is asked for again, so nothing missed while
 * disconnected stays missing. On a later page (?after=) lines are updated in
 * place only: the newest threads are on the first page. Drawn with DOM nodes
 * and textContent only.
 */
(function () {
  "use strict";

  var section = document.getElementById("threads");
  if (!section || !window.PMSocket) {
    return;
  }
  var list = document.getElementById("thread-list");
  var empty = document.getElementById("threads-empty");
  var stateEl = document.getElementById("connection-state");
  var firstPage = section.dataset.firstPage !== "0";
  // Parts of a line that show text people wrote: they take their direction
  // from that text, isolated from the rest of the line (site.css).
  var WRITTEN = { thread__partner: true, thread__preview: true };
  // The order of a line's parts, as the server renders them.
  var PARTS = [
    ["thread__partner", "span"],
    ["thread__presence", "span"],
    ["thread__count", "span"],
    ["thread__unread", "span"],
    ["thread__preview", "span"],
    ["thread__time", "time"],
  ];
  var lastPresence = {};

  function child(li, className, tag) {
    var el = li.querySelector("." + className);
    if (!el) {
      el = document.createElement(tag);
      el.className = className;
      if (WRITTEN[className]) {
        el.dir = "auto";
      }
      if (className === "thread__presence") {
        el.classList.add("presence");
        el.hidden = true;
      }
      li.querySelector(".thread__link").append(" ", el);
    }
    return el;
  }

  function findLine(threadId) {
    var lines = list.querySelectorAll("li.thread");
    for (var i = 0; i < lines.length; i++) {
      if (Number(lines[i].dataset.threadId) === threadId) {
        return lines[i];
      }
    }
    return null;
  }

  function buildLine(threadId) {
    var li = document.createElement("li");
    li.className = "thread";
    li.dataset.threadId = String(threadId);
    var link = document.createElement("a");
    link.className = "thread__link";
    li.append(link);
    PARTS.forEach(function (part) {
      if (part[1] === "span") {
        child(li, part[0], part[1]);
      }
    });
    return li;
  }

  function setUnread(li, unread, version) {
    unread = Number(unread);
    if (!isFinite(unread) || unread < 0) {
      return;
    }
    if (version !== undefined && version !== null) {
      var shownVersion = Number(li.dataset.unreadVersion || 0);
      if (Number(version) < shownVersion) {
        return; // an older count that arrived late
      }
      li.dataset.unreadVersion = String(version);
    }
    var badge = child(li, "thread__unread", "span");
    badge.dataset.unread = String(unread);
    var number = badge.querySelector(".thread__unread-count");
    if (!number) {
      number = document.createElement("span");
      number.className = "thread__unread-count";
      var words = document.createElement("span");
      words.className = "visually-hidden";
      words.textContent = " " + gettext("непрочитанных");
      badge.replaceChildren(number, words);
    }
    number.textContent = String(unread);
    badge.hidden = unread === 0;
    li.classList.toggle("thread--unread", unread > 0);
  }

  // Draw *thread* (a "thread" frame or an item of "threads"); move it to
  // the top if *toTop*.
  function apply(thread, toTop, version) {
    var threadId = Number(thread.thread);
    var lastMessage = thread.last_message || {};
    var li = findLine(threadId);
    if (!li && !firstPage) {
      return; // not on this page
    }
    if (li && Number(li.dataset.lastMessageId || 0) > Number(lastMessage.id || 0)) {
      return; // An older update that arrived late.
    }
    if (!li) {
      li = buildLine(threadId);
    }
    var link = li.querySelector(".thread__link");
    if (typeof thread.url === "string" && thread.url.charAt(0) === "/") {
      link.setAttribute("href", thread.url);
    }
    if (thread.partner_id) {
      li.dataset.partnerId = String(thread.partner_id);
      drawPresence(li);
    }
    var partner = child(li, "thread__partner", "span");
    partner.textContent = thread.partner;
    // A bot partner (a skill): the mark after its name (skills.css).
    if (thread.partner_is_skill === true) {
      partner.dataset.mark = typeof gettext === "function" ? gettext("навык") : "навык";
    }
    var count = child(li, "thread__count", "span");
    count.dataset.count = String(thread.total);
    count.textContent = thread.total + " " + npgettext("message count", "сообщение", "сообщений", thread.total);
    if (thread.unread !== undefined) {
      setUnread(li, thread.unread, thread.version !== undefined ? thread.version : version);
    }
    child(li, "thread__preview", "span").textContent = thread.preview || "";
    if (lastMessage.created) {
      var time = child(li, "thread__time", "time");
      var date = new Date(lastMessage.created);
      window.PMTime.show(time, date);
    }
    if (lastMessage.id) {
      li.dataset.lastMessageId = String(lastMessage.id);
    }
    if ((toTop && firstPage) || !li.parentNode) {
      list.insertBefore(li, list.firstElementChild);
    }
    empty.hidden = true;
  }

  // Presence: "в сети" / "был(а) в сети …" after each partner.

  function drawPresence(li) {
    var id = li.dataset.partnerId;
    if (!id || !(id in lastPresence)) {
      return;
    }
    var info = lastPresence[id];
    var el = child(li, "thread__presence", "span");
    var text = window.PMTime.presence(info);
    if (el.textContent !== text) {
      el.textContent = text;
    }
    el.dataset.online = info && info.online ? "1" : "0";
    el.hidden = !text;
  }

  function drawAllPresence() {
    Array.prototype.forEach.call(list.querySelectorAll("li.thread[data-partner-id]"), drawPresence);
  }

  function onPresence(frame) {
    if (!frame.users || typeof frame.users !== "object") {
      return;
    }
    Object.keys(frame.users).forEach(function (id) {
      lastPresence[id] = frame.users[id];
    });
    drawAllPresence();
  }

  // The list changed under a screen reader's user: say so, politely, once a
  // burst settles (announce.js), one line per conversation.
  function announce(frame) {
    if (!window.PMAnnounce || frame.outgoing !== false) {
      return;
    }
    var partner = typeof frame.partner === "string" && frame.partner
      ? frame.partner
      : gettext("(пользователь удалён)");
    window.PMAnnounce.say(
      interpolate(gettext("Новое сообщение от %(partner)s"), { partner: partner }, true),
      "thread:" + frame.thread
    );
  }

  function applyTotal(frame) {
    if (window.PMUnread && frame.unread_total !== undefined && frame.version !== undefined) {
      window.PMUnread.apply(frame.unread_total, frame.version);
    }
  }

  function onFrame(frame) {
    if (frame.type === "thread") {
      apply(frame, true);
      applyTotal(frame);
      announce(frame);
      if (window.PMNotify) {
        window.PMNotify.thread(frame);
      }
    } else if (frame.type === "threads" && Array.isArray(frame.threads)) {
      // Newest first: drawing the oldest first and moving each to the top
      // leaves them in order.
      for (var i = frame.threads.length - 1; i >= 0; i--) {
        apply(frame.threads[i], true, frame.version);
      }
      applyTotal(frame);
    } else if (frame.type === "unread") {
      var li = findLine(Number(frame.thread));
      if (li) {
        setUnread(li, frame.unread, frame.version);
      }
      applyTotal(frame);
    } else if (frame.type === "presence") {
      onPresence(frame);
    } else if (frame.type === "pong") {
      // The keepalive: presence frames carry only changes, so the labels
      // ("yesterday 14:05") are drawn again as time passes.
      drawAllPresence();
    }
  }

  var socketState = "connecting";
  var stateDetail = {};
  var ticker = null;

  function render() {
    PMSocket.describeState(stateEl, socketState, stateDetail, 0, function () {
      socket.reconnectNow();
    });
    section.dataset.connection = socketState;
  }

  var socket = PMSocket.connect({
    path: section.dataset.wsPath,
    onFrame: onFrame,
    onOpen: function () {
      // Says whether the tab is visible (presence); the server also sends
      // "presence" frames only to a client that sent one.
      socket.send({ type: "activity", active: document.visibilityState === "visible" });
      socket.send({ type: "sync" });
    },
    onState: function (state, detail) {
      socketState = state;
      stateDetail = detail;
      clearInterval(ticker);
      if (state === "waiting") {
        ticker = setInterval(render, 1000);
      }
      render();
    },
    keepaliveEvery: Number(section.dataset.keepalive) * 1000,
  });

  document.addEventListener("visibilitychange", function () {
    socket.send({ type: "activity", active: document.visibilityState === "visible" });
  });

  if (window.PMNotify) {
    window.PMNotify.start(null);
  }
})();
