// burnlink reveal page: opens a link in the browser as `burnlink open` does, following
// docs/format.md. The key K comes from the fragment, which the browser never sends; the
// server only ever sees the claim token T (and the password proof Q), as with the CLI.
//
// Primitives: HKDF-SHA-256 from WebCrypto, XSalsa20-Poly1305 from tweetnacl
// (self.nacl, Debian's node-tweetnacl), Argon2id from argon2id.js (self.burnlinkArgon2);
// the format code from burnlink-common.js (self.burnlinkCommon).
(function () {
  "use strict";

  // The format (docs/format.md) lives in burnlink-common.js, shared with the create and
  // fill pages; it is missing only if that file failed to load (start() then says so).
  const common = self.burnlinkCommon || {};
  const { b64uEncode, b64uDecode, hkdf, concat, wipe, parseKDF, EnvelopeError, checkHeader, openEnvelope,
    isForbiddenNameChar, humanSize, humanWhen, readError, retryAfter } = common;

  const $ = (id) => document.getElementById(id);
  const utf8 = new TextEncoder();

  // ---- presentation ----

  function show(id) {
    for (const section of ["status", "details", "revealed", "problem"]) $(section).hidden = section !== id;
  }

  function status(text) {
    $("status-text").textContent = text;
    show("status");
  }

  function problem(title, text) {
    $("problem-title").textContent = title;
    $("problem-text").textContent = text;
    show("problem");
  }

  const GONE = ["This secret is gone",
    "It was already opened, it expired, it was revoked, or the link is not complete. Nothing was revealed. Ask the sender for a new link if you still need it."];

  /** A name safe to hand to the browser's download: no path or reserved characters. */
  function sanitizeFileName(name) {
    let clean = "";
    for (const ch of name) {
      const code = ch.codePointAt(0);
      clean += isForbiddenNameChar(code) || '<>:"|?*'.includes(ch) ? "_" : ch;
    }
    clean = clean.replace(/^[\s.]+/, "").replace(/[\s.]+$/, "");
    return clean.length > 0 ? clean : "burnlink-secret";
  }

  // ---- the flow ----

  const state = { id: null, key: null, token: null, kdf: null, claimed: false, objectURL: null };

  async function start() {
    // Read the key, then take it out of the address bar and history at once.
    const fragment = location.hash.slice(1);
    if (location.hash) history.replaceState(null, "", location.pathname);
    if (!self.burnlinkCommon) {
      problem("This page did not load completely", "Reload the original link. Nothing was revealed. You can also open the link with the command-line tool: burnlink open.");
      return;
    }

    const match = /^\/s\/([^/]+)$/.exec(location.pathname);
    state.id = match && b64uDecode(match[1], 16) ? match[1] : null;
    if (!state.id) {
      problem("This link is damaged", "The address does not name a secret. Check that you copied the whole link.");
      return;
    }
    state.key = b64uDecode(fragment, 32);
    if (!state.key) {
      problem(fragment ? "This link is damaged" : "This link is incomplete",
        "The key (the part of the link after #) is missing or altered, so the secret cannot be opened. Nothing was revealed. Check that you copied the whole link.");
      return;
    }
    if (!window.crypto || !crypto.subtle || typeof nacl === "undefined" || typeof burnlinkArgon2 === "undefined") {
      problem("This browser cannot open the secret here",
        "Decryption needs a secure (HTTPS) page and a current browser. Nothing was revealed. You can open the link with the command-line tool: burnlink open.");
      return;
    }

    state.token = b64uEncode(await hkdf(state.key, new Uint8Array(0), "burnlink v1 claim"));

    let response;
    try {
      response = await fetch(`/api/v1/secrets/${state.id}`, {
        headers: { Authorization: `Bearer ${state.token}` },
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      problem("The server cannot be reached", "Check your connection and reload the original link. Nothing was revealed.");
      return;
    }
    if (response.status === 404) { problem(...GONE); return; }
    if (response.status === 429) { problem("Too many attempts", "This server is refusing requests from your address for now." + retryAfter(response)); return; }
    if (!response.ok) { problem("The server had a problem", `It answered ${response.status}. Nothing was revealed; try again later.`); return; }
    const metadata = await response.json();

    if (metadata.password_kdf !== null && metadata.password_kdf !== undefined) {
      const kdf = parseKDF(metadata.password_kdf);
      if (kdf.error) {
        problem("This secret cannot be opened safely", `The server sent password settings this page refuses (${kdf.error}). Nothing was revealed.`);
        return;
      }
      state.kdf = kdf;
      $("password-block").hidden = false;
    }

    $("detail-size").textContent = `${humanSize(metadata.size)} encrypted`;
    $("detail-expires").textContent = humanWhen(metadata.expires_at);
    $("detail-views").textContent = String(metadata.views_left);
    if (metadata.views_left > 1) {
      $("view-warning").textContent = `This secret can be viewed ${metadata.views_left} more times. Each reveal uses one view; the last one destroys it on the server.`;
    }
    show("details");
    $("reveal-form").addEventListener("submit", (event) => {
      event.preventDefault();
      reveal();
    });
    (state.kdf ? $("password") : $("reveal")).focus();
  }

  let busy = false;

  async function reveal() {
    if (busy || state.claimed) return;
    busy = true;
    $("reveal").disabled = true;
    $("password-error").hidden = true;
    try {
      await claimAndOpen();
    } finally {
      busy = false;
      $("reveal").disabled = false;
    }
  }

  function passwordError(text) {
    $("password-error").textContent = text;
    $("password-error").hidden = false;
    $("password").focus();
    $("password").select();
  }

  async function claimAndOpen() {
    let passwordKey = null;
    const headers = { Authorization: `Bearer ${state.token}` };
    if (state.kdf) {
      const bytes = utf8.encode($("password").value.normalize("NFC"));
      if (bytes.length < 1 || bytes.length > 1024) {
        passwordError("Enter the password (1 to 1024 bytes).");
        return;
      }
      $("reveal").textContent = "Checking the password…";
      try {
        passwordKey = await burnlinkArgon2.argon2id({
          password: bytes,
          salt: state.kdf.salt,
          passes: state.kdf.ops,
          memoryKiB: state.kdf.mem / 1024,
          onProgress: (done) => { $("reveal").textContent = `Checking the password… ${Math.round(done * 100)}%`; },
        });
      } catch (e) {
        $("reveal").textContent = "Reveal secret";
        passwordError("This device could not compute the password key (not enough memory?). Try the burnlink CLI.");
        return;
      } finally {
        wipe(bytes);
      }
      const proof = await hkdf(concat(state.key, passwordKey), new Uint8Array(0), "burnlink v1 password");
      headers["Burnlink-Password-Proof"] = b64uEncode(proof);
      wipe(proof);
      $("reveal").textContent = "Reveal secret";
    }

    // The claim session secret is chosen here, so that even a claim whose answer is lost
    // can be fetched through its session (docs/http-api.md section 3.3.1).
    const chosen = crypto.getRandomValues(new Uint8Array(32));
    headers["Burnlink-Claim-Session"] = b64uEncode(chosen);
    wipe(chosen);
    let response = null;
    try {
      response = await fetch(`/api/v1/secrets/${state.id}/claim`, { method: "POST", headers: headers, cache: "no-store", credentials: "omit" });
    } catch (e) {
      // No answer: the claim may or may not have been granted; the session can tell.
    }
    // A 5xx may be a gateway's in place of the answer (a proxy that gave up while the server
    // granted the claim): the session can tell as well.
    if (response === null || response.status >= 500) {
      state.claimed = true;
      status("Connection lost; resuming…");
      const failed = response === null ? null : response.status;
      await receiveAndShow(null, headers, headers["Burnlink-Claim-Session"], passwordKey, NaN, failed);
      return;
    }
    if (response.status === 403) {
      wipe(passwordKey);
      const body = await readError(response);
      if (body.error === "wrong_password" && body.attempts_left > 0) {
        passwordError(`Wrong password. ${body.attempts_left} attempt${body.attempts_left === 1 ? "" : "s"} left before the secret is destroyed. Nothing was revealed.`);
        return;
      }
      problem("Too many wrong passwords", "The secret has been destroyed on the server. Ask the sender to send it again.");
      return;
    }
    if (response.status === 404) { wipe(passwordKey); problem(...GONE); return; }
    if (response.status === 429) { wipe(passwordKey); passwordError("Too many attempts from your address." + retryAfter(response)); return; }
    if (!response.ok) {
      wipe(passwordKey);
      problem("The server had a problem", `It answered ${response.status}. Try again later.`);
      return;
    }

    // From here the view is used. With a claim session (docs/http-api.md section 3.3.1) this
    // page alone may fetch it again until it confirms, so a broken download is resumed.
    state.claimed = true;
    const session = response.headers.get("Burnlink-Claim-Session");
    if (session) headers["Burnlink-Claim-Session"] = session;
    await receiveAndShow(response, headers, session, passwordKey, Number(response.headers.get("Burnlink-Views-Left")));
  }

  // Downloads (resuming within the session), decrypts, shows, then confirms the delivery.
  // `failedStatus`: the 5xx the claim was answered with, if that is why it is fetched again.
  async function receiveAndShow(response, headers, session, passwordKey, viewsLeft, failedStatus = null) {
    status("Downloading…");
    let envelope;
    try {
      envelope = await download(response, session ? headers : null);
    } catch (e) {
      wipe(passwordKey);
      if (failedStatus !== null && e.message === "gone") {
        problem("The server had a problem", `It answered ${failedStatus}, and holds no claim for this page: nothing was used. Try again later.`);
        return;
      }
      if (response === null) {
        problem("The server cannot be reached", "The secret may or may not have been used. Reload the original link to check.");
        return;
      }
      problem("The download was interrupted", session
        ? "The download broke off and could not be resumed, even after several tries, so nothing is shown. The sender's receipt will say it was not delivered; ask them for a new link."
        : "The secret was used up on the server but did not arrive completely, so nothing is shown.");
      return;
    }
    status("Decrypting…");

    let result;
    let payloadKey = null;
    try {
      const header = checkHeader(envelope, passwordKey !== null);
      const ikm = passwordKey ? concat(state.key, passwordKey) : state.key.slice();
      payloadKey = await hkdf(ikm, header, "burnlink v1 payload");
      wipe(ikm);
      result = openEnvelope(envelope, payloadKey);
    } catch (e) {
      const code = e instanceof EnvelopeError ? e.code : "error";
      const what = code === "integrity"
        ? "The data failed its integrity check: it was altered, or the link or password does not match it."
        : code === "truncated" ? "The data arrived incomplete."
          : `The data is not a valid burnlink secret (${code}).`;
      problem("The secret could not be decrypted", `${what} Nothing was shown. It has been used up on the server.`);
      return;
    } finally {
      wipe(payloadKey, passwordKey, state.key);
      envelope.fill(0);
    }

    $("destroyed-note").textContent = viewsLeft > 0
      ? `${viewsLeft} view${viewsLeft === 1 ? "" : "s"} left on the server. Copy or save the secret now: this page keeps no copy.`
      : "This secret is now destroyed: the server deleted it and the link will not open again. Copy or save it now; closing this page loses it.";

    if (result.kind === "text") showText(result);
    else showFile(result.parts, result.length, sanitizeFileName(result.name));
    show("revealed");
    if (session) confirmDelivery(headers);
  }

  // The envelope in one piece. A cut download is fetched again from the byte where it
  // stopped, while the claim session lasts (`sessionHeaders` null: no second chance).
  async function download(first, sessionHeaders) {
    const parts = [];
    let received = 0;
    let response = first;
    let fruitless = 0;
    for (;;) {
      try {
        if (!response) {
          const headers = Object.assign({}, sessionHeaders);
          if (received > 0) headers.Range = `bytes=${received}-`;
          response = await fetch(`/api/v1/secrets/${state.id}/envelope`, { headers: headers, cache: "no-store", credentials: "omit" });
          const expected = received > 0 ? 206 : 200;
          const range = response.headers.get("Content-Range") || "";
          if (response.status === 404) throw new Error("gone");
          if (response.status !== expected || (received > 0 && !range.startsWith(`bytes ${received}-`))) {
            throw new Error(`unexpected answer ${response.status}`);
          }
        }
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            const all = joined(parts, received);
            for (const p of parts) p.fill(0);
            return all;
          }
          parts.push(value);
          received += value.length;
          fruitless = 0;
        }
      } catch (e) {
        response = null;
        if (!sessionHeaders || e.message === "gone" || ++fruitless > 5) {
          for (const p of parts) p.fill(0);
          throw e;
        }
        status(`Connection lost; resuming… (${humanSize(received)} received)`);
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** fruitless));
      }
    }
  }

  // Tells the server everything arrived and verified: the sender's receipt then says
  // "delivered" and the ciphertext goes at once. Retried a little; if it never gets
  // through, the session simply runs out and the receipt says "not confirmed".
  async function confirmDelivery(headers) {
    const confirmHeaders = { Authorization: headers.Authorization, "Burnlink-Claim-Session": headers["Burnlink-Claim-Session"] };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const response = await fetch(`/api/v1/secrets/${state.id}/confirm`, { method: "POST", headers: confirmHeaders, cache: "no-store", credentials: "omit" });
        if (response.status === 204 || response.status === 404) return;
      } catch (e) {
        // the network again: wait and retry
      }
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt));
    }
  }

  function joined(parts, length) {
    const all = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) { all.set(p, offset); offset += p.length; }
    return all;
  }

  function showText(result) {
    const bytes = joined(result.parts, result.length);
    let text;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (e) {
      // Not text after all (bytes piped into `burnlink send`): offer it as a file.
      showFile([bytes], bytes.length, "burnlink-secret.bin");
      return;
    }
    bytes.fill(0);
    $("revealed-title").textContent = "Your secret";
    $("secret-text").value = text;
    $("text-result").hidden = false;
    $("copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("secret-text").value);
        $("copy-status").textContent = "Copied.";
      } catch (e) {
        $("secret-text").focus();
        $("secret-text").select();
        $("copy-status").textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
      }
    });
  }

  function showFile(parts, length, name) {
    const blob = new Blob(parts, { type: "application/octet-stream" });
    state.objectURL = URL.createObjectURL(blob);
    $("revealed-title").textContent = "Your file";
    $("file-name").textContent = name;
    $("file-size").textContent = humanSize(length);
    const link = $("download");
    link.href = state.objectURL;
    link.download = name;
    link.textContent = `Download ${name}`;
    $("file-result").hidden = false;
  }

  // A link pasted into this same tab only changes the fragment: start again from it.
  window.addEventListener("hashchange", () => location.reload());

  window.addEventListener("pagehide", () => {
    if (state.objectURL) URL.revokeObjectURL(state.objectURL);
  });

  start().catch(() => {
    problem("Something went wrong", "The page hit an unexpected error. Nothing was revealed unless it said so. You can open the link with burnlink open.");
  });
})();
