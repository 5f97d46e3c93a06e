// burnlink create page (/new): makes a secret in the browser as `burnlink send` does.
// K is chosen here and never leaves the page except inside the link shown at the end;
// the server receives the envelope and the verifiers of docs/http-api.md section 3.1.
(function () {
  "use strict";

  const common = self.burnlinkCommon;
  const compose = self.burnlinkCompose;
  const $ = (id) => document.getElementById(id);

  function show(id) {
    for (const section of ["status", "compose", "result", "problem"]) $(section).hidden = section !== id;
  }

  function problem(title, text) {
    $("problem-title").textContent = title;
    $("problem-text").textContent = text;
    show("problem");
  }

  // An encrypted secret waiting for a creator token, kept so that entering the token
  // does not encrypt everything again: { linkKey, headers, blob, length, views, password,
  // form }. It is used only while the form still holds what was encrypted (`form`).
  let pending = null;
  let busy = false;

  function discardPending() {
    if (pending) common.wipe(pending.linkKey);
    pending = null;
  }

  function formSnapshot() {
    return [$("kind-file").checked, $("secret-text").value, $("secret-file").files[0] || null,
      $("expires").value, $("views").value, $("password").value];
  }

  function sameForm(a, b) {
    return a.length === b.length && a.every((value, i) => value === b[i]);
  }

  // The origin grammar of docs/http-api.md section 3.1 (public_url) / format.md section 1.
  function validOrigin(text) {
    const match = /^https?:\/\/([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,}\])(?::([1-9][0-9]{0,4}))?$/.exec(text);
    if (!match) return false;
    if (match[1].startsWith("[") && !match[1].includes(":")) return false;
    return match[2] === undefined || Number(match[2]) <= 65535;
  }

  const TOKEN = /^[A-Za-z0-9\-._~+/=]{16,512}$/;

  async function submit() {
    if (busy) return;
    busy = true;
    compose.clearFormError();
    try {
      await createSecret();
    } catch (e) {
      discardPending();
      compose.showFormError("Something went wrong while encrypting, so nothing was uploaded. Try again, or use the burnlink command-line tool.");
    } finally {
      busy = false;
      compose.setBusy(false, $("token-block").hidden ? "Encrypt and create link" : "Create link");
    }
  }

  async function createSecret() {
    const tokenWanted = !$("token-block").hidden;
    const token = $("creator-token").value.trim();
    if (tokenWanted && !TOKEN.test(token)) {
      compose.showFormError("Enter the creator token you were given (16 to 512 letters, digits or - . _ ~ + / =).", "creator-token");
      return;
    }

    if (pending && !sameForm(pending.form, formSnapshot())) discardPending();
    if (!pending) {
      const form = formSnapshot();
      const values = compose.read(null);
      if (values.error) { compose.showFormError(values.error, values.field); return; }
      compose.setBusy(true, "Encrypting…");
      const prepared = await compose.encrypt(values, (text) => { $("submit").textContent = text; });
      pending = Object.assign(prepared, { views: values.views, password: values.password !== null, form: form });
    }

    compose.setBusy(true, "Uploading…");
    const headers = Object.assign({}, pending.headers);
    if (tokenWanted) headers.Authorization = `Bearer ${token}`;
    const result = await compose.upload("/api/v1/secrets", headers, pending.blob, (done) => {
      $("submit").textContent = `Uploading… ${Math.round(done * 100)}%`;
    });

    if (result.status === 201) {
      showLink(result.body);
      return;
    }
    if (result.status === 401 && result.body.error === "creator_token_required") {
      // Only the token is missing: the encrypted secret is kept for the next try.
      $("token-block").hidden = false;
      compose.setBusy(false, "Create link");
      compose.showFormError(tokenWanted
        ? "This creator token was not accepted. Check it and try again."
        : "This server lets only people with a creator token create secrets. Enter yours.", "creator-token");
      return;
    }
    discardPending();
    const [title, text] = compose.failure(result);
    compose.showFormError(`${title}. ${text}`);
  }

  function showLink(body) {
    const key = common.b64uEncode(pending.linkKey);
    const id = typeof body.id === "string" && common.b64uDecode(body.id, 16) ? body.id : null;
    const origin = body.public_url === undefined || body.public_url === null ? location.origin : body.public_url;
    const views = pending.views;
    const password = pending.password;
    discardPending();
    if (!id || typeof origin !== "string" || !validOrigin(origin)) {
      problem("The server's answer makes no valid link",
        "The secret was stored, but the server's address for links is not valid, so no working link can be made. Nobody can open that secret: its key never left this page. Tell the server's operator (its public URL setting).");
      return;
    }
    $("link").value = `${origin}/s/${id}#${key}`;
    const until = common.humanWhen(body.expires_at);
    const maxViews = Number.isSafeInteger(body.max_views) ? body.max_views : views;
    $("result-note").textContent = maxViews > 1
      ? `The link opens the secret ${maxViews} times, until ${until}. Copy it now and send it to the recipient.`
      : `The link opens the secret once, until ${until}. Copy it now and send it to the recipient.`;
    $("password-reminder").hidden = !password;
    $("secret-text").value = "";
    $("secret-file").value = "";
    $("file-chosen").textContent = "";
    $("password").value = "";
    show("result");
    $("link").focus();
    $("link").select();
  }

  async function copyLink() {
    try {
      await navigator.clipboard.writeText($("link").value);
      $("copy-status").textContent = "Copied.";
    } catch (e) {
      $("link").focus();
      $("link").select();
      $("copy-status").textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  }

  function another() {
    $("link").value = "";
    $("copy-status").textContent = "";
    show("compose");
    $("secret-text").focus();
  }

  function start() {
    if (!common || !compose) {
      problem("This page did not load completely", "Reload it. You can also send with the command-line tool: burnlink send.");
      return;
    }
    if (!window.crypto || !crypto.subtle || typeof nacl === "undefined" || typeof burnlinkArgon2 === "undefined") {
      problem("This browser cannot encrypt here",
        "Encryption needs a secure (HTTPS) page and a current browser. Nothing was sent. You can use the command-line tool: burnlink send.");
      return;
    }
    compose.setup();
    $("compose-form").addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    $("copy").addEventListener("click", copyLink);
    $("another").addEventListener("click", another);
    show("compose");
    $("secret-text").focus();
  }

  try {
    start();
  } catch (e) {
    problem("Something went wrong", "The page hit an unexpected error. Nothing was sent. You can use burnlink send.");
  }
})();
