// Passkeys (WebAuthn) for Portcullis's own pages, served as a static file
// so the pages keep a strict CSP (no inline script). A form with
// data-passkey="register" or data-passkey="authenticate" gets its
// `credential` field filled from the browser's authenticator, then is
// submitted as usual: the server checks the CSRF token and the Origin as for
// every form, and answers with a page or a redirect.
"use strict";

(function () {
  function fromB64url(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  class RateLimited extends Error {}

  async function options(form, action) {
    const body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    body.set("action", action);
    // getAttribute: the form's `action` field shadows `form.action`.
    const res = await fetch(form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (res.status === 429) throw new RateLimited();
    if (!res.ok) throw new Error("options " + res.status);
    return res.json();
  }

  async function register(form) {
    const o = (await options(form, "register-options")).publicKey;
    o.challenge = fromB64url(o.challenge);
    o.user.id = fromB64url(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    const c = await navigator.credentials.create({ publicKey: o });
    return {
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      extensions: c.getClientExtensionResults(),
      response: {
        attestationObject: toB64url(c.response.attestationObject),
        clientDataJSON: toB64url(c.response.clientDataJSON),
        transports: c.response.getTransports ? c.response.getTransports() : [],
      },
    };
  }

  async function authenticate(form) {
    const o = (await options(form, "passkey-options")).publicKey;
    o.challenge = fromB64url(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    const c = await navigator.credentials.get({ publicKey: o });
    return {
      id: c.id,
      rawId: toB64url(c.rawId),
      type: c.type,
      extensions: c.getClientExtensionResults(),
      response: {
        authenticatorData: toB64url(c.response.authenticatorData),
        clientDataJSON: toB64url(c.response.clientDataJSON),
        signature: toB64url(c.response.signature),
        userHandle: c.response.userHandle ? toB64url(c.response.userHandle) : null,
      },
    };
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    const status = form.querySelector("[data-passkey-status]");
    form.addEventListener("submit", async function (ev) {
      if (form.elements.credential.value) return;
      ev.preventDefault();
      try {
        const cred = form.dataset.passkey === "register" ? await register(form) : await authenticate(form);
        form.elements.credential.value = JSON.stringify(cred);
        form.submit();
      } catch (e) {
        console.error("passkey: " + e);
        // The words come from the page (its language); English if missing.
        if (status) {
          status.textContent = e instanceof RateLimited
            ? status.dataset.limited || "Too many passkey attempts. Wait a few minutes, then try again."
            : status.dataset.failed || "The passkey was not used. Try again, or use another way.";
        }
      }
    });
  });
})();
