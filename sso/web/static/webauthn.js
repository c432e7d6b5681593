/* Passkeys (WebAuthn) for Tangsel SSO: registration on /account/security/passkeys/new, login
 * without a password on the login page, and a passkey as the second factor.
 *
 * Served from /static (the Content-Security-Policy allows no inline script). Each element with
 * data-webauthn="register|authenticate" carries data-options (URL giving {handle, options}),
 * data-finish (URL taking {handle, credential}, answering {redirect}) and data-csrf. Binary
 * fields travel as base64url, as py_webauthn expects them.
 */
(function () {
  "use strict";

  function fromB64u(value) {
    var s = value.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64u(buffer) {
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    o.challenge = fromB64u(o.challenge);
    o.user.id = fromB64u(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return o;
  }

  function requestOptions(o) {
    o.challenge = fromB64u(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = fromB64u(c.id); });
    return o;
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64u(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64u(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) { out.response.transports = r.getTransports(); }
    } else {
      out.response.authenticatorData = toB64u(r.authenticatorData);
      out.response.signature = toB64u(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64u(r.userHandle); }
    }
    return out;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data.message || "passkey");
          err.data = data;
          throw err;
        }
        return data;
      });
    });
  }

  function run(box, button) {
    var error = box.querySelector("[data-webauthn-error]");
    var register = box.dataset.webauthn === "register";
    var csrf = box.dataset.csrf;
    var handle = null;
    if (error) { error.hidden = true; }
    button.disabled = true;
    post(box.dataset.options, { csrf_token: csrf })
      .then(function (begin) {
        handle = begin.handle;
        if (register) {
          return navigator.credentials.create({ publicKey: creationOptions(begin.options) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(begin.options) });
      })
      .then(function (cred) {
        var body = { csrf_token: csrf, handle: handle, credential: credentialJSON(cred) };
        var name = box.querySelector("[name=passkey_name]");
        if (name) { body.name = name.value; }
        // A password typed beside the passkey (linking an upstream account): the passkey
        // is then its second step.
        var pw = box.dataset.password ? document.getElementById(box.dataset.password) : null;
        if (pw && pw.value) { body.password = pw.value; }
        return post(box.dataset.finish, body);
      })
      .then(function (done) { window.location.assign(done.redirect); })
      .catch(function (err) {
        button.disabled = false;
        if (err && err.data && err.data.redirect && !err.data.message) {
          window.location.assign(err.data.redirect);
          return;
        }
        if (error) {
          error.textContent = (err && err.data && err.data.message) || box.dataset.failed;
          error.hidden = false;
        }
        if (err && err.data && err.data.error === "mfa.login_again" && err.data.redirect) {
          window.location.assign(err.data.redirect);
        }
      });
  }

  function setUp() {
    var boxes = document.querySelectorAll("[data-webauthn]");
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      var button = box.querySelector("button");
      if (!window.PublicKeyCredential || !navigator.credentials || !button) {
        box.hidden = true;
        continue;
      }
      box.hidden = false;
      button.addEventListener("click", (function (b, btn) {
        return function (ev) { ev.preventDefault(); run(b, btn); };
      })(box, button));
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
