/*
 * The live thread list (protocol: docs/protocol.md). Needs plural.js and
 * socket.js, and the page's #threads section.
 *
 * A new message in any of the user's threads moves that thread to the top
 * with its new count, preview and time; a new thread appears. On every
 * (re)connect the whole list is asked for again, so nothing missed while
 * disconnected stays missing. Drawn with DOM nodes and textContent only.
 */
(function () {
  "use strict";

  var section = document.getElementById("threads");
  if (!section || !window.PMSocket) {
    return;
  }
  var list = document.getElementById("thread-list");
  var empty = document.getElementById("threads-empty");
  var pluralForms = list.dataset.pluralForms || "сообщение,сообщения,сообщений";
  // Parts of a line that show text people wrote: they take their direction
  // from that text, isolated from the rest of the line (site.css).
  var WRITTEN = { thread__partner: true, thread__preview: true };

  function child(li, className, tag) {
    var el = li.querySelector("." + className);
    if (!el) {
      el = document.createElement(tag);
      el.className = className;
      if (WRITTEN[className]) {
        el.dir = "auto";
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
    ["thread__partner", "thread__count", "thread__preview"].forEach(function (name) {
      var span = document.createElement("span");
      span.className = name;
      if (WRITTEN[name]) {
        span.dir = "auto";
      }
      link.append(span, " ");
    });
    return li;
  }

  // Draw *thread* (a "thread" frame); move it to the top if *toTop*.
  function apply(thread, toTop) {
    var threadId = Number(thread.thread);
    var lastMessage = thread.last_message || {};
    var li = findLine(threadId);
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
    child(li, "thread__partner", "span").textContent = thread.partner;
    var count = child(li, "thread__count", "span");
    count.dataset.count = String(thread.total);
    count.textContent = thread.total + " " + window.ruPlural(thread.total, pluralForms);
    child(li, "thread__preview", "span").textContent = thread.preview || "";
    if (lastMessage.created) {
      var time = child(li, "thread__time", "time");
      var date = new Date(lastMessage.created);
      time.dateTime = lastMessage.created;
      time.textContent = window.PMTime.format(date, false);
    }
    if (lastMessage.id) {
      li.dataset.lastMessageId = String(lastMessage.id);
    }
    if (toTop || !li.parentNode) {
      list.insertBefore(li, list.firstElementChild);
    }
    empty.hidden = true;
  }

  function onFrame(frame) {
    if (frame.type === "thread") {
      apply(frame, true);
    } else if (frame.type === "threads" && Array.isArray(frame.threads)) {
      // Newest first: drawing the oldest first and moving each to the top
      // leaves them in order.
      for (var i = frame.threads.length - 1; i >= 0; i--) {
        apply(frame.threads[i], true);
      }
    }
  }

  var socket = PMSocket.connect({
    path: section.dataset.wsPath,
    onFrame: onFrame,
    onOpen: function () {
      socket.send({ type: "sync" });
    },
    onState: function (state) {
      section.dataset.connection = state;
    },
    heartbeat: function () {
      return { type: "ping" };
    },
  });
})();
