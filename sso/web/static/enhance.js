/* Tangsel SSO: small progressive enhancements. Every page works without this file; with it:
   - each password field gets a "show password" button (the field turns back into a password
     field before its form is sent, so browsers store it as a password);
   - buttons marked data-copy="<id>" copy that element's text, data-print prints the page
     (both are hidden in the HTML and shown here, where they can work);
   - the user menu in the header closes with Escape or a click elsewhere.
   No inline script: the Content-Security-Policy allows only files from this origin. */
(function () {
  "use strict";
  var body = document.body;

  function passwordToggles() {
    var show = body.getAttribute("data-show-password") || "Show";
    var hide = body.getAttribute("data-hide-password") || "Hide";
    var fields = document.querySelectorAll("input[type=password]:not([hidden])");
    Array.prototype.forEach.call(fields, function (input) {
      if (!input.id) { return; }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "password-toggle";
      button.textContent = show;
      button.setAttribute("aria-controls", input.id);
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", function () {
        var reveal = input.type === "password";
        input.type = reveal ? "text" : "password";
        button.textContent = reveal ? hide : show;
        button.setAttribute("aria-pressed", reveal ? "true" : "false");
      });
      input.insertAdjacentElement("afterend", button);
      if (input.form) {
        input.form.addEventListener("submit", function () { input.type = "password"; });
      }
    });
  }

  function copyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        var status = document.getElementById(button.getAttribute("data-status") || "");
        if (!source) { return; }
        var text = source.getAttribute("data-copy-text") || source.innerText;
        navigator.clipboard.writeText(text).then(function () {
          if (status) { status.textContent = button.getAttribute("data-copied") || ""; }
        }, function () {
          if (status) { status.textContent = button.getAttribute("data-copy-failed") || ""; }
        });
      });
    });
  }

  function printButtons() {
    var buttons = document.querySelectorAll("button[data-print]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
  }

  function userMenu() {
    var menu = document.querySelector("details[data-user-menu]");
    if (!menu) { return; }
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && menu.open) {
        menu.open = false;
        menu.querySelector("summary").focus();
      }
    });
    document.addEventListener("click", function (event) {
      if (menu.open && !menu.contains(event.target)) { menu.open = false; }
    });
  }

  passwordToggles();
  copyButtons();
  printButtons();
  userMenu();
})();
