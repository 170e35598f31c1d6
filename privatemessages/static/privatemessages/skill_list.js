/*
 * The thread list's "Навыки" (the skills one can write to): a tap on a
 * skill's username puts it in the new-message form's "Кому" and moves to the
 * text, so a conversation starts like any other. Without JavaScript the link
 * only leads to the form.
 */
(function () {
  "use strict";

  var skills = document.getElementById("skills");
  var recipient = document.getElementById("new-message-recipient");
  var text = document.getElementById("new-message-text");
  if (!skills || !recipient || !text) {
    return;
  }
  skills.addEventListener("click", function (event) {
    var link = event.target.closest("a.skill__username[data-username]");
    if (!link) {
      return;
    }
    event.preventDefault();
    recipient.value = link.dataset.username;
    // Tells new_message.js (suggestions) and any check that the value changed.
    recipient.dispatchEvent(new Event("input", { bubbles: true }));
    text.scrollIntoView({ block: "center" });
    text.focus();
  });
})();
