/*
 * A bot partner's messages on the chat page (a skill's answers; protocol:
 * docs/protocol.md). Load before chat.js: chat.js calls
 * PMBotMessage.decorate(li, message.attachments) for every confirmed line it
 * builds (live and older history), and sends what a chip asks for (the
 * "pm:button" event on #chat). The server renders the same markup for the
 * page's own history (privatemessages/_attachments.html).
 *
 * - Buttons show as chips under the message. A chip without a url sends its
 *   title as the user's message, with a reference to the button
 *   ({message_id, index}); the payload never leaves the server. A url button
 *   is a link that opens in a new tab, without access to this page.
 * - "hide" chips show only while their message is the newest line of the
 *   thread: site CSS (skills.css) hides them once a line follows.
 * - A card is drawn simply: BigImage (picture, title, description),
 *   ItemsList (a list), ImageGallery (a row).
 * - end_session: a quiet system line after the message.
 * - The header's "начать заново" form posts with fetch (204, the greeting
 *   comes as a message); without JavaScript it is a plain form post.
 *
 * Drawn with DOM nodes and textContent only; only http(s) addresses are used.
 */
(function (root) {
  "use strict";

  // Django's JavaScript catalog (base.html loads it first); the text as is without it.
  var gettext =
    typeof root.gettext === "function"
      ? root.gettext
      : function (text) {
          return text;
        };

  var WEB_ADDRESS = /^https?:\/\//i;

  function webAddress(value) {
    return typeof value === "string" && WEB_ADDRESS.test(value) ? value : null;
  }

  function text(value) {
    return typeof value === "string" ? value : "";
  }

  function el(tag, className, content) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (content) {
      node.textContent = content;
      // Written by the skill's author: its direction is its own.
      node.dir = "auto";
    }
    return node;
  }

  function picture(url, className) {
    var address = webAddress(url);
    if (!address) {
      return null;
    }
    var img = el("img", className);
    img.src = address;
    // The title beside it says what it shows.
    img.alt = "";
    img.loading = "lazy";
    img.referrerPolicy = "no-referrer";
    return img;
  }

  function appendAll(parent, children) {
    children.forEach(function (child) {
      if (child) {
        parent.append(child);
      }
    });
    return parent;
  }

  function chips(buttons) {
    var box = el("div", "bot-buttons");
    buttons.forEach(function (button, index) {
      if (!button || typeof button !== "object" || !text(button.title)) {
        return;
      }
      var chip;
      var url = webAddress(button.url);
      if (button.url && !url) {
        return; // not a web address: neither a link nor something to send
      }
      if (url) {
        chip = el("a", "bot-chip bot-chip--link", button.title);
        chip.href = url;
        chip.target = "_blank";
        chip.rel = "noopener noreferrer";
      } else {
        chip = el("button", "bot-chip", button.title);
        chip.type = "button";
        chip.dataset.index = String(index);
      }
      if (button.hide) {
        chip.classList.add("bot-chip--hide");
      }
      box.append(chip);
    });
    return box.childElementCount ? box : null;
  }

  function card(data) {
    if (!data || typeof data !== "object") {
      return null;
    }
    if (data.type === "BigImage") {
      return appendAll(el("figure", "bot-card bot-card--big"), [
        picture(data.image_url, "bot-card__image"),
        appendAll(el("figcaption", "bot-card__caption"), [
          text(data.title) ? el("strong", "bot-card__title", data.title) : null,
          text(data.description) ? el("p", "bot-card__description", data.description) : null,
        ]),
      ]);
    }
    if (data.type === "ItemsList" || data.type === "ImageGallery") {
      var gallery = data.type === "ImageGallery";
      var list = el("ul", gallery ? "bot-card__row" : "bot-card__items");
      (Array.isArray(data.items) ? data.items : []).forEach(function (item) {
        if (!item || typeof item !== "object") {
          return;
        }
        list.append(
          appendAll(el("li", "bot-card__item"), [
            picture(item.image_url, "bot-card__thumb"),
            text(item.title) ? el("strong", "bot-card__title", item.title) : null,
            !gallery && text(item.description) ? el("p", "bot-card__description", item.description) : null,
          ])
        );
      });
      var header = data.header && typeof data.header === "object" ? data.header.text : data.header;
      var footer = data.footer && typeof data.footer === "object" ? data.footer.text : data.footer;
      return appendAll(el("div", "bot-card " + (gallery ? "bot-card--gallery" : "bot-card--list")), [
        text(header) ? el("p", "bot-card__header", header) : null,
        list,
        text(footer) ? el("p", "bot-card__footer", footer) : null,
      ]);
    }
    return null;
  }

  function systemLine() {
    var li = el("li", "messages__system");
    li.textContent = gettext("диалог завершён");
    return li;
  }

  /*
   * Add a bot message's attachments (the public form: buttons without
   * payloads, card, end_session) to its line *li*, which the caller puts in
   * the list right after this returns.
   */
  function decorate(li, attachments) {
    if (!attachments || typeof attachments !== "object") {
      return li;
    }
    li.classList.add("message--bot");
    appendAll(li, [
      card(attachments.card),
      Array.isArray(attachments.buttons) ? chips(attachments.buttons) : null,
    ]);
    if (attachments.end_session === true) {
      li.dataset.endSession = "1";
      // After the caller has placed the line (a live one, or older history).
      Promise.resolve().then(function () {
        var next = li.nextElementSibling;
        if (li.parentNode && !(next && next.classList.contains("messages__system"))) {
          li.after(systemLine());
        }
      });
    }
    return li;
  }

  root.PMBotMessage = { decorate: decorate };

  var section = document.getElementById("chat");
  var list = document.getElementById("message-list");
  if (!section || !list) {
    return;
  }
  var live = section.dataset.newest !== "0";

  // A chip: its title as the user's message, with the button's reference.
  list.addEventListener("click", function (event) {
    var chip = event.target.closest("button.bot-chip");
    var line = chip && chip.closest("li[data-id]");
    if (!chip || !line || !list.contains(line)) {
      return;
    }
    event.preventDefault();
    if (!live) {
      return;
    }
    section.dispatchEvent(
      new CustomEvent("pm:button", {
        detail: {
          text: chip.textContent,
          button: { message_id: Number(line.dataset.id), index: Number(chip.dataset.index) },
        },
      })
    );
  });
  if (!live) {
    // An older page: what was asked then cannot be answered from here.
    Array.prototype.forEach.call(list.querySelectorAll("button.bot-chip"), function (chip) {
      chip.disabled = true;
    });
  }

  // "начать заново": the skill starts over; its greeting arrives as a message.
  var restart = document.getElementById("skill-restart");
  if (restart && typeof fetch === "function") {
    restart.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = restart.querySelector("button[type=submit]");
      var token = restart.querySelector("input[name=csrfmiddlewaretoken]");
      var status = document.getElementById("skill-restart-status");
      if (submit.disabled) {
        return;
      }
      submit.disabled = true;
      restart.dataset.state = "sending";
      if (status) {
        status.hidden = true;
      }
      fetch(restart.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": token ? token.value : "" },
        body: new FormData(restart),
      })
        .then(
          function (response) {
            if (response.ok) {
              restart.dataset.state = "done";
              return;
            }
            // Refused (a stale CSRF token, signed out...): the plain post
            // says what happened, as a page.
            restart.dataset.state = "error";
            restart.submit();
          },
          function () {
            restart.dataset.state = "error";
            if (status) {
              status.textContent = gettext("Не удалось начать заново: нет связи с сервером.");
              status.hidden = false;
            }
          }
        )
        .then(function () {
          submit.disabled = false;
        });
    });
  }
})(window);
