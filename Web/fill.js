// burnlink fill page (/r/{id}#<pk>): answers a request (docs/format.md section 6).
//
// The fragment holds the requester's public key pk, never sent by the browser. The page
// derives the fill token F from it, reads the request's public metadata, makes a secret
// exactly as the create page does (fresh K, envelope), seals K to pk with libsodium's
// sealed box, and uploads both. It shows no link: only the requester's machine, which
// holds the private key, can open the answer.
(function () {
  "use strict";

  const common = self.burnlinkCommon;
  const compose = self.burnlinkCompose;
  const $ = (id) => document.getElementById(id);

  const state = { id: null, publicKey: null, token: null, maxSize: null, done: false };

  function show(id) {
    for (const section of ["status", "compose", "sent", "problem"]) $(section).hidden = section !== id;
  }

  function problem(title, text) {
    $("problem-title").textContent = title;
    $("problem-text").textContent = text;
    show("problem");
  }

  const GONE = ["This request is gone",
    "It expired, it was answered and that answer has expired, or the link is not complete. Nothing was sent. Ask the person who asked for a new request link."];
  const ANSWERED = ["This request was already answered",
    "Someone has already sent a secret for it, and a request takes one answer only. Nothing more can be sent. If that was not you, tell the person who asked."];

  async function start() {
    // Read the key, then take it out of the address bar and history at once.
    const fragment = location.hash.slice(1);
    if (location.hash) history.replaceState(null, "", location.pathname);
    if (!common || !compose) {
      problem("This page did not load completely", "Reload the original request link. Nothing was sent.");
      return;
    }

    const match = /^\/r\/([^/]+)$/.exec(location.pathname);
    state.id = match && common.b64uDecode(match[1], 16) ? match[1] : null;
    if (!state.id) {
      problem("This link is damaged", "The address does not name a request. Check that you copied the whole link.");
      return;
    }
    state.publicKey = common.b64uDecode(fragment, 32);
    if (!state.publicKey) {
      problem(fragment ? "This link is damaged" : "This link is incomplete",
        "The requester's key (the part of the link after #) is missing or altered, so nothing can be sent to it. Check that you copied the whole link.");
      return;
    }
    if (!window.crypto || !crypto.subtle || typeof nacl === "undefined" || typeof burnlinkArgon2 === "undefined") {
      problem("This browser cannot encrypt here",
        "Encryption needs a secure (HTTPS) page and a current browser. Nothing was sent.");
      return;
    }
    // A key that cannot be sealed to (a low-order point) is refused before anything else.
    const probe = common.sealToPublicKey(new Uint8Array(32), state.publicKey);
    if (!probe) {
      problem("This link is damaged", "The requester's key in the link is not a usable public key. Nothing was sent.");
      return;
    }

    const fill = await common.fillToken(state.publicKey);
    state.token = common.b64uEncode(fill);
    common.wipe(fill);

    let response;
    try {
      response = await fetch(`/api/v1/requests/${state.id}`, {
        headers: { Authorization: `Bearer ${state.token}` },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      problem("The server cannot be reached", "Check your connection and reload the original request link.");
      return;
    }
    if (response.status === 404) { problem(...GONE); return; }
    if (response.status === 429) { problem("Too many attempts", "This server is refusing requests from your address for now." + common.retryAfter(response)); return; }
    if (!response.ok) { problem("The server had a problem", `It answered ${response.status}. Nothing was sent; try again later.`); return; }
    let request;
    try {
      request = await response.json();
    } catch (e) {
      request = null;
    }
    if (!request || typeof request !== "object" || typeof request.answered !== "boolean") {
      problem("The server had a problem", "Its answer was not a burnlink request. Nothing was sent.");
      return;
    }
    if (request.answered) { problem(...ANSWERED); return; }

    // The note is public metadata that anyone could have written: shown as text only,
    // with invisible and direction-changing characters made visible.
    const note = typeof request.note === "string" && request.note.length > 0 ? request.note : null;
    $("note").textContent = note === null ? "(no note)" : compose.humanName(note);
    $("note").classList.toggle("empty", note === null);
    state.maxSize = Number.isSafeInteger(request.max_size) && request.max_size > 0 ? request.max_size : null;
    $("detail-max-size").textContent = state.maxSize === null ? "set by the server" : common.humanSize(state.maxSize) + " (encrypted)";
    $("detail-expires").textContent = common.humanWhen(request.expires_at);

    compose.setup();
    $("compose-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    show("compose");
    $("secret-text").focus();
  }

  let busy = false;

  async function submit() {
    if (busy || state.done) return;
    busy = true;
    compose.clearFormError();
    try {
      await fillRequest();
    } catch (e) {
      compose.showFormError("Something went wrong while encrypting, so nothing was sent. Try again.");
    } finally {
      busy = false;
      compose.setBusy(false, "Encrypt and send");
    }
  }

  async function fillRequest() {
    const values = compose.read(state.maxSize);
    if (values.error) { compose.showFormError(values.error, values.field); return; }
    compose.setBusy(true, "Encrypting…");
    const prepared = await compose.encrypt(values, (text) => { $("submit").textContent = text; });
    const sealed = common.sealToPublicKey(prepared.linkKey, state.publicKey);
    common.wipe(prepared.linkKey);
    if (!sealed) {
      problem("This link is damaged", "The requester's key in the link is not a usable public key. Nothing was sent.");
      return;
    }

    compose.setBusy(true, "Sending…");
    const headers = Object.assign({}, prepared.headers, {
      Authorization: `Bearer ${state.token}`,
      "Burnlink-Sealed-Key": common.b64uEncode(sealed),
    });
    const result = await compose.upload(`/api/v1/requests/${state.id}/fill`, headers, prepared.blob, (done) => {
      $("submit").textContent = `Sending… ${Math.round(done * 100)}%`;
    });

    if (result.status === 201) {
      state.done = true;
      const views = Number.isSafeInteger(result.body.max_views) ? result.body.max_views : values.views;
      const until = common.humanWhen(result.body.expires_at);
      $("sent-details").textContent = (views > 1
        ? `It can be opened ${views} times, until ${until}. `
        : `It can be opened once, until ${until}. `) +
        (values.password !== null ? "They will also need the password: send it to them another way. " : "") +
        "No link was made: their own burnlink opens it with the key only their machine holds.";
      $("secret-text").value = "";
      $("secret-file").value = "";
      $("password").value = "";
      show("sent");
      return;
    }
    if (result.status === 409) {
      problem(ANSWERED[0], "A request takes one answer, and it has one now. If an earlier attempt of yours was cut off, that answer may be yours; if not, someone else answered first and yours was not stored: tell the person who asked.");
      return;
    }
    if (result.status === 404) { problem(...GONE); return; }
    const [title, text] = compose.failure(result);
    compose.showFormError(`${title}. ${text}`);
  }

  // A request link pasted into this same tab only changes the fragment: start again from it.
  window.addEventListener("hashchange", () => location.reload());

  start().catch(() => {
    problem("Something went wrong", "The page hit an unexpected error. Nothing was sent.");
  });
})();
