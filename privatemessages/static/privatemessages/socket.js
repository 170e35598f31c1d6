/*
 * A WebSocket that stays connected (protocol: docs/protocol.md).
 *
 *   var socket = PMSocket.connect({
 *     path: "/ws/messages/7/",
 *     onOpen: function () { socket.send({type: "sync", after: lastId}); },
 *     onFrame: function (frame) { ... },          // every JSON frame received
 *     onState: function (state, detail) { ... },  // see STATES below
 *     keepaliveEvery: 25000,  // the server's keepalive period, in ms
 *   });
 *
 * - Reconnects after any drop with exponential backoff and jitter (0.5 s
 *   doubling up to 30 s, each wait drawn at random from its upper half), so
 *   that the clients of a restarted server do not all come back at once.
 * - Reconnects at once when the browser comes back online (the "online"
 *   event), when the tab becomes visible again or gets the focus, and when
 *   the user asks to (reconnectNow, the banner's "подключиться сейчас").
 * - The server sends a frame at least every keepaliveEvery ms (its
 *   keepalive, docs/protocol.md); a connection that has received nothing for
 *   twice that is taken for dead (a half-open TCP connection can look open
 *   for minutes) and replaced. The client sends nothing to keep it alive.
 * - Stops for good on close codes 4401 (not signed in) and 4403 (no access).
 * - On 4429 (the user has too many sockets open) waits its longest backoff
 *   before trying again, and says why.
 *
 * It knows nothing about chats; chat.js and threads.js build on it.
 */
(function (root) {
  "use strict";

  var MIN_DELAY = 500;
  var MAX_DELAY = 30000;
  var KEEPALIVE_EVERY = 25000;
  // A connection that lived this long was a good one: the next drop starts
  // the backoff from the beginning again.
  var HEALTHY_AFTER = 10000;

  // States passed to onState:
  //   "connecting"  first connection attempt in progress
  //   "open"        connected
  //   "waiting"     disconnected, next attempt at detail.retryAt (a Date.now() value);
  //                 detail.code is the close code
  //   "reconnecting" attempt in progress after a drop
  //   "refused"     closed for good, detail.code is 4401 or 4403
  var FATAL_CODES = { 4401: true, 4403: true };
  // Refused for now: trying again soon would only be refused again.
  var BUSY_CODES = { 4429: true };

  function socketUrl(path) {
    var scheme = root.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + root.location.host + path;
  }

  // The wait before attempt number *attempt* (0-based): between half and all
  // of min(MAX, MIN * 2^attempt).
  function backoffDelay(attempt, minDelay, maxDelay) {
    var cap = Math.min(maxDelay, minDelay * Math.pow(2, attempt));
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  function connect(options) {
    var minDelay = options.minDelay || MIN_DELAY;
    var maxDelay = options.maxDelay || MAX_DELAY;
    var keepaliveEvery = options.keepaliveEvery || KEEPALIVE_EVERY;
    var onState = options.onState || function () {};
    var ws = null;
    var attempt = 0;
    var everOpened = false;
    var openedAt = 0;
    var lastFrameAt = 0;
    var retryTimer = null;
    var aliveTimer = null;
    var stopped = false;
    var state = null;

    function setState(next, detail) {
      state = next;
      onState(next, detail || {});
    }

    function open() {
      clearTimeout(retryTimer);
      retryTimer = null;
      if (stopped || ws) {
        return;
      }
      setState(everOpened ? "reconnecting" : "connecting");
      var current;
      try {
        current = new WebSocket(socketUrl(options.path));
      } catch (error) {
        scheduleRetry();
        return;
      }
      ws = current;
      current.onopen = function () {
        everOpened = true;
        openedAt = lastFrameAt = Date.now();
        aliveTimer = setInterval(checkAlive, keepaliveEvery);
        setState("open");
        if (options.onOpen) {
          options.onOpen();
        }
      };
      current.onmessage = function (event) {
        lastFrameAt = Date.now();
        var frame;
        try {
          frame = JSON.parse(event.data);
        } catch (error) {
          return;
        }
        if (frame && typeof frame === "object" && options.onFrame) {
          options.onFrame(frame);
        }
      };
      current.onclose = function (event) {
        dropped(current, event.code);
      };
      // An error is always followed by a close event.
      current.onerror = function () {};
    }

    function dropped(which, code) {
      if (which !== ws) {
        return;
      }
      ws = null;
      clearInterval(aliveTimer);
      which.onopen = which.onmessage = which.onclose = null;
      if (FATAL_CODES[code]) {
        stopped = true;
        setState("refused", { code: code });
        return;
      }
      if (openedAt && Date.now() - openedAt > HEALTHY_AFTER) {
        attempt = 0;
      }
      if (BUSY_CODES[code]) {
        // Straight to the longest wait.
        attempt = Math.max(attempt, Math.ceil(Math.log2(maxDelay / minDelay)));
      }
      openedAt = 0;
      if (options.onClose) {
        options.onClose(code);
      }
      scheduleRetry(code);
    }

    function scheduleRetry(code) {
      if (stopped) {
        return;
      }
      var delay = backoffDelay(attempt, minDelay, maxDelay);
      attempt += 1;
      retryTimer = setTimeout(open, delay);
      setState("waiting", { retryAt: Date.now() + delay, attempt: attempt, code: code });
    }

    function checkAlive() {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        return;
      }
      if (Date.now() - lastFrameAt > 2 * keepaliveEvery) {
        // Nothing for too long, not even the server's keepalive.
        var dead = ws;
        dropped(dead, 1006);
        try {
          dead.close();
        } catch (error) {
          // Already closing.
        }
      }
    }

    function send(frame) {
      if (!ws || ws.readyState !== WebSocket.OPEN) {
        return false;
      }
      ws.send(JSON.stringify(frame));
      return true;
    }

    function reconnectNow() {
      if (stopped || ws) {
        return;
      }
      attempt = 0;
      open();
    }

    root.addEventListener("online", reconnectNow);
    root.addEventListener("focus", reconnectNow);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        reconnectNow();
      }
    });

    open();

    return {
      send: send,
      reconnectNow: reconnectNow,
      isOpen: function () {
        return !!ws && ws.readyState === WebSocket.OPEN;
      },
      state: function () {
        return state;
      },
    };
  }

  // Fill the connection-state element *el* for *state*, with DOM nodes only.
  // *unsent* is how many messages wait for the connection. *reconnect*, when
  // given, is what the banner's "подключиться сейчас" button calls while the
  // socket waits for its next attempt. The text and the button are made once
  // and then updated, so that a keyboard user's focus survives the ticking.
  function describeState(el, state, detail, unsent, reconnect) {
    if (!el) {
      return;
    }
    el.dataset.state = state;
    var text = el.querySelector(".connection-state__text");
    var button = el.querySelector(".connection-state__action");
    if (!text) {
      el.replaceChildren();
      text = document.createElement("span");
      text.className = "connection-state__text";
      button = document.createElement("button");
      button.type = "button";
      button.className = "connection-state__action button button--quiet";
      button.textContent = gettext("подключиться сейчас");
      button.hidden = true;
      button.addEventListener("click", function () {
        if (typeof el.pmReconnect === "function") {
          el.pmReconnect();
        }
      });
      el.append(text, " ", button);
    }
    el.pmReconnect = reconnect;
    text.replaceChildren();
    var queued = unsent
      ? " " + interpolate(gettext("Неотправленных сообщений: %s, они уйдут при подключении."), [unsent])
      : "";
    if (state === "reconnecting") {
      text.textContent = gettext("Подключение…") + queued;
    } else if (state === "waiting") {
      var seconds = Math.max(1, Math.ceil((detail.retryAt - Date.now()) / 1000));
      var why = BUSY_CODES[detail.code]
        ? gettext("Открыто слишком много вкладок с сообщениями, закройте лишние.")
        : gettext("Нет связи с сервером.");
      text.textContent = why + " " + interpolate(gettext("Повторная попытка через %s с."), [seconds]) + queued;
    } else if (state === "refused" && detail.code === 4401) {
      var link = document.createElement("a");
      link.href = "/accounts/login/?next=" + encodeURIComponent(root.location.pathname);
      link.textContent = gettext("войдите снова");
      // The link goes where the sentence's %s stands, in any language.
      var around = gettext("Сеанс закончился: %s, чтобы продолжить переписку.").split("%s");
      text.append(around[0], link, around.slice(1).join(""));
    } else if (state === "refused") {
      text.textContent = gettext("Нет доступа к этому диалогу.");
    }
    // A button only while waiting: then an attempt now may well succeed.
    button.hidden = !(state === "waiting" && typeof reconnect === "function");
    // Nothing to say while connected, or while the first attempt is under way.
    el.hidden = !text.textContent;
  }

  root.PMSocket = {
    connect: connect,
    backoffDelay: backoffDelay,
    describeState: describeState,
  };
})(window);
