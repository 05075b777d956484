/*
 * Interlude web chat widget. Embed with one container and one script tag:
 *
 *   <div id="interlude-chat"></div>
 *   <script src="https://interlude.example.org/widget/interlude-widget.js"
 *           data-container="interlude-chat" data-clinic="your-clinic-slug"></script>
 *
 * The patient's secret comes from their personal link (#token=... in the address, which the
 * browser never sends to a server). It speaks socket.io with Rasa's event names; the server
 * decides whose conversation this is from the token alone.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script.src, window.location.href).origin;
  var opts = script.dataset || {};
  var host = document.getElementById(opts.container || "interlude-chat");
  if (!host) { return; }

  function tokenFromLocation() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    return params.get("token") || opts.token || "";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }  // never innerHTML: no markup from messages
    return node;
  }

  // ---- the interface ------------------------------------------------------------------
  var root = el("section", { "class": "il-chat", "aria-label": "Chat with " + (opts.title || "Interlude") });
  var header = el("header", { "class": "il-header" });
  header.appendChild(el("h1", {}, opts.title || "Interlude"));
  var status = el("p", { "class": "il-status", role: "status", "aria-live": "polite" }, "Connecting…");
  header.appendChild(status);
  var notice = el("p", { "class": "il-notice", role: "status", "aria-live": "assertive" });
  notice.hidden = true;
  // A live log region wrapping a real list: role="log" on the <ol> itself would strip its list
  // semantics (axe: listitem), and screen readers announce the count of messages from a list.
  var log = el("div", { "class": "il-log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabindex: "0" });
  var list = el("ol", { "class": "il-list" });
  log.appendChild(list);
  var typing = el("p", { "class": "il-typing", "aria-hidden": "true" }, "Interlude is typing…");
  typing.hidden = true;
  var replies = el("div", { "class": "il-replies", role: "group", "aria-label": "Suggested replies" });
  var form = el("form", { "class": "il-form" });
  var label = el("label", { "for": "il-input", "class": "il-sr" }, "Your message");
  var input = el("textarea", { id: "il-input", rows: "2", maxlength: "20000", autocomplete: "off",
    placeholder: "Write a message…", "aria-describedby": "il-hint" });
  var hint = el("span", { id: "il-hint", "class": "il-sr" }, "Enter sends, Shift and Enter starts a new line.");
  var send = el("button", { type: "submit" }, "Send");
  form.appendChild(label); form.appendChild(input); form.appendChild(hint); form.appendChild(send);
  [header, notice, log, typing, replies, form].forEach(function (n) { root.appendChild(n); });
  host.appendChild(root);

  function setStatus(text, isError) {
    status.textContent = text;
    status.className = "il-status" + (isError ? " il-error" : "");
    status.setAttribute("role", isError ? "alert" : "status");
  }

  function showNotice(meta) {
    if (!meta || !meta.handoff) { return; }
    if (meta.handoff === "started") {
      notice.textContent = "A clinician from your care team has joined this conversation.";
      notice.hidden = false;
    } else if (meta.handoff === "ended") {
      notice.hidden = true;
    }
  }

  function addMessage(role, text, meta) {
    var who = role === "patient" ? "You" : (meta && meta.from === "clinician" ? "Care team" : "Interlude");
    var kind = role === "patient" ? "patient" : (meta && meta.from === "clinician" ? "clinician" : "bot");
    var item = el("li", { "class": "il-msg il-msg-" + kind });
    item.appendChild(el("span", { "class": "il-who" }, who + ": "));
    item.appendChild(document.createTextNode(text || ""));
    list.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function setReplies(quickReplies) {
    replies.textContent = "";
    (quickReplies || []).forEach(function (qr) {
      var b = el("button", { type: "button" }, qr.title);
      b.addEventListener("click", function () { submit(qr.payload, qr.title); });
      replies.appendChild(b);
    });
  }

  // ---- the connection -----------------------------------------------------------------
  var socket = null;
  var refused = false;

  function submit(payload, shown) {
    if (!socket || refused) { return; }
    var text = (payload || "").trim();
    if (!text) { return; }
    addMessage("patient", shown || text);
    setReplies([]);
    socket.emit("user_uttered", { message: text });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value;
    input.value = "";
    submit(text);
    input.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : send.click(); }
  });

  function connect() {
    var token = tokenFromLocation();
    if (!token) {
      refused = true;
      send.disabled = true;
      setStatus("Please open the personal chat link your clinic gave you.", true);
      return;
    }
    // Long-polling only: Rasa's pinned Sanic/engine.io cannot upgrade to websockets.
    socket = window.io(base, {
      path: "/socket.io", transports: ["polling"], auth: { token: token, clinic: opts.clinic || "" },
      reconnection: true, reconnectionDelayMax: 10000
    });
    socket.on("connect", function () {
      setStatus("Connected");
      socket.emit("session_request", {});
    });
    socket.on("history", function (items) {
      // Sent on every (re)connect: the server's copy replaces what is shown, so nothing doubles.
      list.textContent = "";
      var last = null;
      (items || []).forEach(function (m) {
        addMessage(m.role, m.text, m.metadata);
        showNotice(m.metadata);
        last = m;
      });
      setReplies(last && last.role === "bot" ? last.quick_replies : []);
      if (!items || !items.length) { socket.emit("user_uttered", { message: "/greet" }); }
    });
    socket.on("bot_uttered", function (m) {
      addMessage("bot", m.text, m.metadata);
      showNotice(m.metadata);
      setReplies(m.quick_replies);
    });
    socket.on("bot_typing", function (t) { typing.hidden = !(t && t.typing); });
    socket.on("chat_error", function (err) { setStatus((err && err.message) || "Something went wrong.", true); });
    socket.on("connect_error", function (err) {
      if (err && err.data && err.data.reason) {  // refused by Interlude: retrying will not help
        refused = true;
        send.disabled = true;
        setStatus(err.message, true);
        socket.disconnect();
      } else {
        setStatus("Can't reach Interlude right now; trying again…", true);
      }
    });
    socket.on("disconnect", function (reason) {
      typing.hidden = true;
      if (!refused) { setStatus("Reconnecting…", true); }
      if (reason === "io server disconnect" && !refused) {
        refused = true;
        send.disabled = true;
      }
    });
  }

  if (window.io) {
    connect();
  } else {
    var loader = document.createElement("script");
    loader.src = base + "/widget/vendor/socket.io.min.js";
    loader.onload = connect;
    loader.onerror = function () { setStatus("The chat could not load. Please try again later.", true); };
    document.head.appendChild(loader);
  }
})();
