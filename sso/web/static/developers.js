/* Copy buttons of the developer portal (client_id, secret, discovery URL, code examples).
 *
 * Served from /static (the Content-Security-Policy allows no inline script). A button
 * [data-copy=ID] copies the text of the element #ID with the asynchronous clipboard API and says
 * so in the status element beside it (role=status, aria-live=polite). The buttons stay hidden
 * without JavaScript or without a clipboard (plain http other than localhost): the values are
 * selectable text either way. */
(function () {
  "use strict";
  if (!navigator.clipboard || !window.isSecureContext) {
    return;
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function copy(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentNode.querySelector(".copy__status");
    if (!target) {
      return;
    }
    var field = target.tagName === "INPUT" || target.tagName === "TEXTAREA";
    var text = field ? target.value : target.textContent;
    navigator.clipboard.writeText(text).then(
      function () {
        status.textContent = button.getAttribute("data-copied");
        window.setTimeout(function () { status.textContent = ""; }, 4000);
      },
      function () {
        status.textContent = button.getAttribute("data-failed");
        selectText(target);
      }
    );
  }

  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { copy(button); });
  });
})();
