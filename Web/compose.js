// burnlink: the form the create page (/new) and the fill page (/r/{id}) share. It reads
// text or a file, the expiry, the views and an optional password, encrypts exactly as
// `burnlink send` does (burnlink-common.js), and uploads the envelope.
//
// Both pages have the same element ids for this form (see new.html and fill.html).
(function (root) {
  "use strict";

  const common = root.burnlinkCommon;
  const $ = (id) => document.getElementById(id);
  const utf8 = new TextEncoder();

  function updateKind() {
    const file = $("kind-file").checked;
    $("text-block").hidden = file;
    $("file-block").hidden = !file;
  }

  /** Wires the text/file switch and the chosen file's size. */
  function setup() {
    for (const radio of document.querySelectorAll('input[name="kind"]')) radio.addEventListener("change", updateKind);
    updateKind();
    $("secret-file").addEventListener("change", () => {
      const file = $("secret-file").files[0];
      $("file-chosen").textContent = file ? `${humanName(file.name)}, ${common.humanSize(file.size)}` : "";
    });
  }

  /** A name for display: controls and invisible format characters shown as ⟨U+XXXX⟩. */
  function humanName(text) {
    let out = "";
    for (const ch of text) {
      const code = ch.codePointAt(0);
      const invisible = code !== 0x0a && (common.isForbiddenNameChar(code) && code !== 0x2f && code !== 0x5c);
      out += invisible ? `⟨${common.codePointName(code)}⟩` : ch;
    }
    return out;
  }

  /**
   * The form's values, checked: { metadata, content, contentLength, views, expiresIn,
   * password (Uint8Array or null) }, or { error, field }. `maxSize` (bytes of envelope, or
   * null when unknown) refuses a secret the server would refuse anyway, before any work.
   */
  function read(maxSize) {
    let metadata;
    let content;
    if ($("kind-file").checked) {
      const file = $("secret-file").files[0];
      if (!file) return { error: "Choose a file first.", field: "secret-file" };
      if (file.size === 0) return { error: "This file is empty: there is nothing to send.", field: "secret-file" };
      const problem = common.fileNameProblem(file.name);
      if (problem) return { error: `This file cannot be sent under its name: ${problem}. Rename the file and choose it again.`, field: "secret-file" };
      metadata = { kind: "file", name: file.name, size: file.size };
      content = file;
    } else {
      const text = $("secret-text").value;
      if (text.length === 0) return { error: "Type or paste the secret first.", field: "secret-text" };
      metadata = { kind: "text" };
      content = utf8.encode(text);
    }
    const contentLength = content instanceof Uint8Array ? content.length : content.size;

    const viewsText = $("views").value.trim();
    const views = /^[1-9][0-9]{0,2}$/.test(viewsText) ? Number(viewsText) : 0;
    if (views < 1 || views > 100) return { error: "Views must be a whole number from 1 to 100.", field: "views" };
    const expiresIn = Number($("expires").value);

    let password = null;
    if ($("password").value.length > 0) {
      password = common.passwordBytes($("password").value);
      if (!password) return { error: "The password is too long (at most 1024 bytes in UTF-8).", field: "password" };
    }

    if (maxSize !== null && maxSize !== undefined) {
      const length = common.envelopeLength(common.encodeMetadata(metadata).length + contentLength);
      if (length > maxSize) {
        if (content instanceof Uint8Array) content.fill(0);
        if (password) password.fill(0);
        return {
          error: `This secret is too large: encrypted it would be ${common.humanSize(length)}, and the server accepts at most ${common.humanSize(maxSize)} (${maxSize} bytes).`,
          field: metadata.kind === "file" ? "secret-file" : "secret-text",
        };
      }
    }
    return { metadata, content, contentLength, views, expiresIn, password };
  }

  /**
   * Encrypts the secret of `read()`: a fresh link key K, the password key P (Argon2id with
   * the CLI's defaults), the envelope as a Blob. Returns { linkKey, headers, blob, length };
   * the caller wipes linkKey once it is used. `onStatus(text)` reports progress.
   */
  async function encrypt(values, onStatus) {
    let keys;
    try {
      if (values.password) onStatus("Computing the password key…");
      keys = await common.newSecretKeys({
        password: values.password,
        onProgress: (done) => onStatus(`Computing the password key… ${Math.round(done * 100)}%`),
      });
    } finally {
      if (values.password) values.password.fill(0);
    }
    onStatus("Encrypting…");
    let sealed;
    try {
      sealed = await common.sealEnvelope({
        linkKey: keys.linkKey,
        passwordKey: keys.passwordKey,
        metadata: values.metadata,
        content: values.content,
        onProgress: (done) => onStatus(`Encrypting… ${Math.round(done * 100)}%`),
      });
    } catch (e) {
      common.wipe(keys.linkKey);
      throw e;
    } finally {
      common.wipe(keys.passwordKey);
      if (values.content instanceof Uint8Array) values.content.fill(0);
    }
    const headers = Object.assign({}, keys.headers, {
      "Content-Type": "application/octet-stream",
      "Burnlink-Expires-In": String(values.expiresIn),
      "Burnlink-Max-Views": String(values.views),
    });
    return { linkKey: keys.linkKey, headers: headers, blob: sealed.blob, length: sealed.length };
  }

  /**
   * POSTs the envelope Blob. XMLHttpRequest rather than fetch: it is the browser API that
   * reports upload progress, and a Blob body is sent from the browser's blob storage.
   * Resolves to { status, body, headers } (status 0: no answer); never rejects.
   */
  function upload(url, headers, blob, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
      });
      const finish = () => {
        let body = {};
        try {
          const parsed = JSON.parse(xhr.responseText);
          if (parsed && typeof parsed === "object") body = parsed;
        } catch (e) {
          // not JSON: an answer from something other than burnlink (a proxy)
        }
        resolve({ status: xhr.status, body: body, headers: { get: (name) => xhr.getResponseHeader(name) } });
      };
      xhr.addEventListener("load", finish);
      xhr.addEventListener("error", () => resolve({ status: 0, body: {}, headers: { get: () => null } }));
      xhr.addEventListener("abort", () => resolve({ status: 0, body: {}, headers: { get: () => null } }));
      xhr.send(blob);
    });
  }

  /** The server's message, as plain words of bounded length (it is only ever shown as text). */
  function serverMessage(body) {
    const message = typeof body.message === "string" ? body.message.trim() : "";
    return message.length > 300 ? message.slice(0, 300) + "…" : message;
  }

  /** [title, text] for a failed upload (statuses both pages handle alike). */
  function failure(result) {
    const message = serverMessage(result.body);
    switch (result.status) {
      case 0:
        return ["The server cannot be reached", "The upload did not get through. Check your connection and try again."];
      case 400:
        return ["The server refused the secret", `It said: ${message || "bad request"}. Nothing was stored.`];
      case 413:
        return ["This secret is too large for this server", `${message ? message + ". " : ""}Nothing was stored. Send a smaller file, or use the burnlink command-line tool with a server that accepts it.`];
      case 429:
        return ["Too many requests", "This server is refusing requests from your address for now." + common.retryAfter(result)];
      case 503:
        return ["The server is unavailable", "Its storage is not working right now. Nothing was stored; try again later."];
      case 507:
        return ["The server is full", "It cannot store more secrets right now. Nothing was stored; try again later or send something smaller."];
      default:
        return ["The server had a problem", `It answered ${result.status}${message ? ` (${message})` : ""}. Nothing was stored; try again later.`];
    }
  }

  /** Disables or enables every field of the form and its button. */
  function setBusy(busy, buttonText) {
    for (const element of $("compose-form").elements) element.disabled = busy;
    if (buttonText !== undefined) $("submit").textContent = buttonText;
  }

  function showFormError(text, field) {
    $("form-error").textContent = text;
    $("form-error").hidden = false;
    if (field && $(field)) $(field).focus();
  }

  function clearFormError() {
    $("form-error").hidden = true;
    $("form-error").textContent = "";
  }

  root.burnlinkCompose = { setup, read, encrypt, upload, failure, setBusy, showFormError, clearFormError, humanName, serverMessage };
})(self);
