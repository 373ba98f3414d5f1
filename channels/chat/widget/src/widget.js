/* The helpdesk's chat widget, embedded on a shop's page:
 *   <script src="https://HELPDESK/widget.js" data-channel="KEY" async></script>
 * Its protocol is docs/chat.md. Dependency-free; everything it shows lives in a Shadow DOM, so the
 * page's CSS cannot reach it and its CSS cannot reach the page. Built by ../build.py into dist/.
 *
 * Rules it keeps: message text is only ever set with textContent (never innerHTML, not even for our
 * own markup, so a page with Trusted Types works too); no eval, no inline style attributes or
 * <style> text where constructable stylesheets exist (a host page's strict CSP allows both); every
 * message carries a UUID from the moment it is typed, so a re-send after a reconnect is stored once
 * and nothing is shown twice.
 */
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector("script[data-channel][src*='widget.js']");
  if (!script || !script.getAttribute("data-channel") || !window.WebSocket || !window.fetch) return;
  var KEY = script.getAttribute("data-channel");
  if (document.querySelector("[data-helpdesk-chat='" + KEY.replace(/['\\]/g, "") + "']")) return;  // embedded twice

  var BASE = script.src.replace(/\/widget\.js(?:[?#].*)?$/, "");
  var API = BASE + "/chat/" + encodeURIComponent(KEY) + "/";
  var STORE = "helpdesk-chat:" + KEY;
  var MAX_TEXT = 5000;
  var MAX_FILE = 10 * 1024 * 1024;
  var IDENTITY = {};  // the shop's signed identity of its signed-in user, passed on to POST session
  [["identity_token", "data-identity-token"], ["user_id", "data-user-id"], ["user_hash", "data-user-hash"]]
    .forEach(function (pair) {
      var value = script.getAttribute(pair[1]);
      if (value) IDENTITY[pair[0]] = value;
    });
  var SIGNED = !!(IDENTITY.identity_token || (IDENTITY.user_id && IDENTITY.user_hash));

  // ---- storage: localStorage may be missing or throw (privacy modes, sandboxed frames) ----
  function load(name, fallback) {
    try {
      var raw = window.localStorage.getItem(name);
      return raw === null ? fallback : raw;
    } catch (e) { return fallback; }
  }
  function save(name, value) {
    try {
      if (value === null) window.localStorage.removeItem(name); else window.localStorage.setItem(name, value);
    } catch (e) { /* the chat still works for this page's life */ }
  }
  function loadJson(name, fallback) {
    try { return JSON.parse(load(name, "")) || fallback; } catch (e) { return fallback; }
  }

  function uuid() {
    var c = window.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), i, s = "";
    if (c && c.getRandomValues) c.getRandomValues(b); else for (i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) s += (i === 4 || i === 6 || i === 8 || i === 10 ? "-" : "") + (b[i] + 256).toString(16).slice(1);
    return s;
  }

  // ---- DOM, built without markup strings ----
  function h(tag, props, children) {
    var el = document.createElement(tag);
    Object.keys(props || {}).forEach(function (name) {
      var value = props[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") el.textContent = value;
      else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) { if (child) el.appendChild(child); });
    return el;
  }
  function icon(path) {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), p = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    p.setAttribute("d", path);
    svg.appendChild(p);
    return svg;
  }
  var ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  var ICON_CLOSE = "M6.4 5 5 6.4 10.6 12 5 17.6 6.4 19l5.6-5.6 5.6 5.6 1.4-1.4-5.6-5.6L19 6.4 17.6 5 12 10.6z";
  var ICON_CLIP = "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z";
  var ICON_SEND = "M3 20.5 21 12 3 3.5V10l12 2-12 2z";
  var ICON_MAIL = "M3 5h18v14H3zm2 2v.5l7 4.5 7-4.5V7zm0 2.9V17h14V9.9l-7 4.5z";

  var CSS = [
    ":host{all:initial!important;display:block!important;position:static!important}",
    "*,*::before,*::after{box-sizing:border-box;margin:0;padding:0}",
    "[hidden]{display:none!important}",
    ".hd{--hd-accent:#0b5cad;--hd-on-accent:#fff;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;",
    "color:#1f2328;letter-spacing:normal;text-align:left;text-transform:none;-webkit-font-smoothing:antialiased}",
    "button,input,textarea{font:inherit;color:inherit;letter-spacing:inherit;background:none;border:0}",
    "button{cursor:pointer}",
    ":focus-visible{outline:3px solid var(--hd-accent);outline-offset:2px}",
    ".head :focus-visible{outline-color:var(--hd-on-accent);outline-offset:-3px}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;width:58px;height:58px;border-radius:50%;",
    "background:var(--hd-accent);color:var(--hd-on-accent);box-shadow:0 4px 16px rgba(0,0,0,.25);display:flex;",
    "align-items:center;justify-content:center;transition:transform .15s}",
    ".launcher:hover{transform:scale(1.06)}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    ".badge{position:absolute;top:-2px;right:-2px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;",
    "background:#d1242f;color:#fff;font-size:13px;font-weight:700;line-height:22px;text-align:center}",
    ".panel{position:fixed;right:20px;bottom:90px;z-index:2147483000;width:380px;height:600px;max-height:calc(100vh - 110px);",
    "display:flex;flex-direction:column;background:#fff;border-radius:14px;overflow:hidden;",
    "box-shadow:0 10px 40px rgba(0,0,0,.28);animation:hd-in .18s ease-out}",
    "@keyframes hd-in{from{opacity:0;transform:translateY(12px)}}",
    ".head{display:flex;align-items:center;gap:8px;padding:14px 10px 14px 18px;background:var(--hd-accent);color:var(--hd-on-accent)}",
    ".titles{flex:1;min-width:0}",
    ".title{font-size:17px;font-weight:700;line-height:1.25;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}",
    ".status{font-size:13px;opacity:.9}",
    ".icon{width:40px;height:40px;border-radius:8px;display:flex;align-items:center;justify-content:center;color:inherit;flex:none}",
    ".icon:hover{background:rgba(127,127,127,.2)}",
    ".icon svg{width:22px;height:22px;fill:currentColor}",
    ".log{flex:1;overflow-y:auto;padding:16px;display:flex;flex-direction:column;gap:10px;background:#f6f8fa;list-style:none}",
    ".msg{display:flex;flex-direction:column;align-items:flex-start;max-width:85%}",
    ".msg.visitor{align-self:flex-end;align-items:flex-end}",
    ".who{font-size:12px;color:#59636e;margin:0 4px 2px}",
    ".bubble{padding:9px 13px;border-radius:16px;background:#fff;border:1px solid #d1d9e0;white-space:pre-wrap;",
    "overflow-wrap:anywhere;word-break:break-word}",
    ".visitor .bubble{background:var(--hd-accent);color:var(--hd-on-accent);border-color:transparent}",
    ".failed .bubble{opacity:.6}",
    ".file{display:block;margin-top:4px;color:inherit;text-decoration:underline;overflow-wrap:anywhere}",
    ".meta{font-size:12px;color:#59636e;margin:2px 4px 0}",
    ".failed .meta{color:#d1242f}",
    ".typing{padding:0 16px 6px;font-size:13px;font-style:italic;color:#59636e;background:#f6f8fa;min-height:0}",
    ".notice{padding:8px 16px;font-size:13px;background:#fff8c5;border-top:1px solid #eed888}",
    ".notice.error{background:#ffebe9;border-color:#ffcecb;color:#82071e}",
    "form{display:flex;flex-direction:column;gap:10px;padding:12px 16px 16px;border-top:1px solid #d1d9e0;background:#fff}",
    "form p{font-size:14px}",
    "label{display:flex;flex-direction:column;gap:4px;font-size:13px;font-weight:600;color:#31373d}",
    "input,textarea{display:block;width:100%;border:1px solid #8c959f;border-radius:8px;padding:9px 11px;background:#fff;font-weight:400}",
    "textarea{resize:none;min-height:44px;max-height:140px;line-height:1.4}",
    "[aria-invalid=true]{border-color:#d1242f;border-width:2px}",
    ".primary{align-self:flex-start;padding:9px 18px;border-radius:8px;background:var(--hd-accent);color:var(--hd-on-accent);font-weight:600}",
    ".primary[disabled]{opacity:.6;cursor:default}",
    ".error-text{font-size:13px;color:#82071e}",
    ".compose{flex-direction:row;align-items:flex-end;gap:6px;padding:10px 10px 12px}",
    ".compose label{flex:1}",
    ".compose .icon{color:#59636e}",
    ".compose .send{color:var(--hd-accent)}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    "@media (max-width:480px){.panel{inset:0;width:100%;height:100%;max-height:none;border-radius:0}",
    ".open .launcher{display:none}}",
    "@media (prefers-reduced-motion:reduce){.launcher,.panel{transition:none;animation:none}.launcher:hover{transform:none}}"
  ].join("");

  // ---- state ----
  var config = null;
  var token = load(STORE, null);
  var me = loadJson(STORE + ":me", {});  // {name, email, verified} as POST session answered
  var items = [];  // what the log shows, in order: {id, seq, from, el, meta, pending, failed, sentAt, text}
  var byId = {}, bySeq = {};
  var lastSeq = 0;  // the highest seq received from the server: `after` on the next hello
  var agentRead = 0, sentRead = 0, lastAgentSeq = 0, unread = 0;
  var ws = null, ready = false, attempts = 0, retryTimer = null, tickTimer = null, lastFrameAt = 0, pingAt = 0;
  var typingSent = false, typingTimer = null, agentTypingTimer = null, disconnectedTimer = null;
  var isOpen = false, stopped = false, sessionPromise = null;

  // ---- the elements ----
  var host = h("div", {"data-helpdesk-chat": KEY});
  var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
  var badge = h("span", {"class": "badge", hidden: true, "aria-hidden": "true"});
  var launcherLabel = h("span", {"class": "sr", text: "Chat with us"});
  var launcher = h("button", {type: "button", "class": "launcher", "aria-expanded": "false", "aria-controls": "hd-panel",
    onclick: function () { toggle(!isOpen); }}, [icon(ICON_CHAT), launcherLabel, badge]);
  var title = h("h2", {"class": "title", id: "hd-title"});
  var statusLine = h("p", {"class": "status", id: "hd-status"});
  var transcriptButton = h("button", {type: "button", "class": "icon", title: "Email me the transcript",
    "aria-label": "Email me the transcript", hidden: true, onclick: function () { showTranscriptForm(); }}, [icon(ICON_MAIL)]);
  var closeButton = h("button", {type: "button", "class": "icon", "aria-label": "Close chat",
    onclick: function () { toggle(false); }}, [icon(ICON_CLOSE)]);
  var log = h("ol", {"class": "log", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0"});
  var typing = h("p", {"class": "typing", "aria-live": "polite"});
  var notice = h("p", {"class": "notice", role: "status", hidden: true});

  var prechatError = h("p", {"class": "error-text", role: "alert", id: "hd-prechat-error"});
  var prechatName = h("input", {name: "name", autocomplete: "name", maxlength: "200"});
  var prechatEmail = h("input", {name: "email", type: "email", autocomplete: "email", maxlength: "320",
    "aria-describedby": "hd-prechat-error"});
  var prechatNameField = h("label", {}, [document.createTextNode("Your name"), prechatName]);
  var prechatEmailField = h("label", {}, [document.createTextNode("Your email"), prechatEmail]);
  var prechat = h("form", {"class": "prechat", novalidate: true, hidden: true, onsubmit: onPrechat}, [
    h("p", {text: "Tell us who you are and we'll be right with you."}), prechatNameField, prechatEmailField, prechatError,
    h("button", {type: "submit", "class": "primary", text: "Start chat"})]);

  var textarea = h("textarea", {name: "message", rows: "1", maxlength: String(MAX_TEXT), placeholder: "Write a message…",
    onkeydown: onComposeKey, oninput: onComposeInput});
  var fileInput = h("input", {type: "file", hidden: true, tabindex: "-1", onchange: onFileChosen});
  var compose = h("form", {"class": "compose", hidden: true, onsubmit: function (e) { e.preventDefault(); sendTyped(); }}, [
    h("button", {type: "button", "class": "icon", "aria-label": "Attach a file", title: "Attach a file",
      onclick: function () { fileInput.click(); }}, [icon(ICON_CLIP)]),
    h("label", {}, [h("span", {"class": "sr", text: "Message"}), textarea]), fileInput,
    h("button", {type: "submit", "class": "icon send", "aria-label": "Send", title: "Send (Enter)"}, [icon(ICON_SEND)])]);

  var offlineIntro = h("p");
  var offlineError = h("p", {"class": "error-text", role: "alert", id: "hd-offline-error"});
  var offlineName = h("input", {name: "name", autocomplete: "name", maxlength: "200"});
  var offlineEmail = h("input", {name: "email", type: "email", autocomplete: "email", maxlength: "320",
    "aria-describedby": "hd-offline-error"});
  var offlineText = h("textarea", {name: "message", rows: "3", maxlength: String(MAX_TEXT)});
  var offlineNameField = h("label", {}, [document.createTextNode("Your name"), offlineName]);
  var offlineEmailField = h("label", {}, [document.createTextNode("Your email"), offlineEmail]);
  var offline = h("form", {"class": "offline", novalidate: true, hidden: true, onsubmit: onOffline}, [
    offlineIntro, offlineNameField, offlineEmailField, h("label", {}, [document.createTextNode("Message"), offlineText]),
    offlineError, h("button", {type: "submit", "class": "primary", text: "Send"})]);

  var transcriptEmail = h("input", {name: "email", type: "email", autocomplete: "email", maxlength: "320"});
  var transcriptError = h("p", {"class": "error-text", role: "alert"});
  var transcript = h("form", {"class": "transcript", novalidate: true, hidden: true, onsubmit: onTranscript}, [
    h("label", {}, [document.createTextNode("Email the transcript to"), transcriptEmail]), transcriptError,
    h("button", {type: "submit", "class": "primary", text: "Email transcript"})]);

  var panel = h("section", {"class": "panel", id: "hd-panel", role: "dialog", "aria-labelledby": "hd-title",
    "aria-describedby": "hd-status", hidden: true, onkeydown: onPanelKey}, [h("header", {"class": "head"}, [h("div", {"class": "titles"}, [title, statusLine]), transcriptButton, closeButton]),
    log, typing, notice, prechat, offline, transcript, compose]);
  var announcer = h("p", {"class": "sr", role: "status"});  // news while the panel is closed
  var frame = h("div", {"class": "hd"}, [launcher, panel, announcer]);

  function adoptStyles() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {  // older browsers: a <style> element (a host CSP without 'unsafe-inline' would block it there)
      root.appendChild(h("style", {text: CSS}));
    }
  }

  // ---- HTTP ----
  function request(method, path, body) {
    var headers = {};
    if (token && path !== "config") headers.Authorization = "Bearer " + token;
    if (body && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    return fetch(API + path, {method: method, headers: headers, body: body, credentials: "omit", mode: "cors"})
      .then(function (response) {
        return response.text().then(function (text) {
          var data = {};
          try { data = text ? JSON.parse(text) : {}; } catch (e) { /* not JSON */ }
          if (!response.ok) {
            var error = new Error(typeof data.detail === "string" ? data.detail : "The chat service answered " + response.status);
            error.status = response.status;
            error.detail = typeof data.detail === "string" ? data.detail : "";
            throw error;
          }
          return data;
        });
      });
  }
  function failure(error) {
    return error.status ? error.message : "We could not reach the chat service. Check your connection and try again.";
  }

  // ---- the conversation ----
  function ensureSession(fields) {
    if (token && !fields) return Promise.resolve();
    if (!sessionPromise) {
      var body = {}, name;
      Object.keys(IDENTITY).forEach(function (k) { body[k] = IDENTITY[k]; });
      for (name in fields || {}) if (fields[name]) body[name] = fields[name];
      if (token) body.token = token;
      sessionPromise = request("POST", "session", body).then(function (answer) {
        sessionPromise = null;
        setToken(answer.token);
        me = {name: answer.name || "", email: answer.email || "", verified: !!answer.verified};
        save(STORE + ":me", JSON.stringify(me));
        connect();
      }, function (error) {
        sessionPromise = null;
        if (error.status === 401 && body.token) {  // our stored token has expired: a new conversation
          setToken(null);
          return ensureSession(fields || {});
        }
        throw error;
      });
    }
    return sessionPromise;
  }
  function setToken(value) {
    token = value || null;
    save(STORE, token);
  }

  function connect() {
    if (ws || !token || stopped) return;
    clearTimeout(retryTimer);
    var socket;
    try {
      socket = new WebSocket(API.replace(/^http/, "ws") + "socket?token=" + encodeURIComponent(token));
    } catch (e) {  // a page's CSP without our origin in connect-src makes some browsers throw here
      socket = {close: function () {}};
      ws = socket;
      dropped(socket, 1006);
      return;
    }
    ws = socket;
    socket.onopen = function () {
      lastFrameAt = Date.now();
      clearInterval(tickTimer);
      tickTimer = setInterval(tick, 5000);  // from now: a socket that stays silent is dropped and reopened
      socket.send(JSON.stringify({type: "hello", after: lastSeq}));
    };
    socket.onmessage = function (event) {
      if (ws !== socket) return;
      lastFrameAt = Date.now();
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data && typeof data.type === "string") receive(data);
    };
    socket.onclose = function (event) { dropped(socket, event.code); };
  }
  function dropped(socket, code) {
    if (ws !== socket) return;
    ws = null;
    ready = false;
    clearInterval(tickTimer);
    if (code === 4401) {  // the token is no longer valid: start over with a new conversation
      setToken(null);
      me = {};
      save(STORE + ":me", null);
      lastSeq = agentRead = sentRead = lastAgentSeq = 0;
      render();
      if (items.some(function (i) { return i.pending; }) && prechat.hidden) ensureSession().catch(function () {});
      return;
    }
    if (code === 4403) {
      stopped = true;
      showNotice("Chat is not available on this page.", true);
      return;
    }
    clearTimeout(disconnectedTimer);
    disconnectedTimer = setTimeout(function () { if (!ready) renderStatus(); }, 1500);
    var delay = Math.min(15000, 1000 * Math.pow(2, attempts++));
    retryTimer = setTimeout(connect, delay / 2 + Math.random() * delay / 2);
  }
  function reconnectNow() {
    if (!ws && token && !stopped) { attempts = 0; connect(); }
  }
  function sendFrame(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }
  function tick() {  // every 5 s while connected: a silent socket is a dead one; an unacknowledged message goes again
    var now = Date.now();
    if (now - lastFrameAt > 35000) {  // no pong: the connection is gone even if the browser has not noticed
      var socket = ws;
      dropped(socket, 1006);
      socket.close();
      return;
    }
    if (now - lastFrameAt > 20000 && now - pingAt > 20000) { pingAt = now; sendFrame({type: "ping"}); }
    items.forEach(function (item) { if (item.pending && ready && now - item.sentAt > 10000) transmit(item); });
  }

  function receive(frame) {
    if (frame.type === "history") {
      (frame.messages || []).forEach(showMessage);
      agentRead = Math.max(agentRead, frame.agent_read || 0);
      ready = true;
      attempts = 0;
      items.forEach(function (item) { if (item.pending) transmit(item); });  // same ids: stored once
      render();
      markRead();
    } else if (frame.type === "message") {
      showMessage(frame);
      markRead();
    } else if (frame.type === "ack") {
      if (byId[frame.id]) confirm(byId[frame.id], frame.seq);
    } else if (frame.type === "typing") {
      clearTimeout(agentTypingTimer);
      typing.textContent = frame.state ? (frame.name || "Someone") + " is typing…" : "";
      if (frame.state) agentTypingTimer = setTimeout(function () { typing.textContent = ""; }, 8000);
    } else if (frame.type === "read") {
      agentRead = Math.max(agentRead, frame.seq || 0);
      refreshStatuses();
    } else if (frame.type === "presence") {
      config.online = !!frame.online;
      config.open_now = !!frame.open_now;
      render();
    } else if (frame.type === "error") {
      if (frame.code !== "rate_limited") showNotice(frame.message || "The message could not be sent.", true);
    }
  }

  function showMessage(m) {
    if (!m || (m.seq && bySeq[m.seq])) return;  // shown already
    if (m.seq) lastSeq = Math.max(lastSeq, m.seq);
    var mine = m.id && byId[m.id];
    if (mine) { mine.at = m.at || mine.at; confirm(mine, m.seq); return; }  // our own message, stored: it is on screen already
    var item = addItem({id: m.id, seq: m.seq, from: m.from === "agent" ? "agent" : "visitor", name: m.name,
      text: m.text || "", at: m.at, attachments: m.attachments || []});
    if (item.from === "agent") {
      lastAgentSeq = Math.max(lastAgentSeq, m.seq || 0);
      typing.textContent = "";
      if ((!isOpen || document.hidden) && ready) {
        unread++;
        renderBadge();
        if (!isOpen) announcer.textContent = "New message from " + (m.name || "Support");
      }
    }
    refreshStatuses();
  }

  function addItem(data) {
    var item = data, children = [];
    if (item.from === "agent") children.push(h("span", {"class": "who", text: item.name || "Support"}));
    var bubble = h("div", {"class": "bubble", text: item.text});
    (item.attachments || []).forEach(function (file) {
      var url = API + "attachments/" + encodeURIComponent(file.id);
      bubble.appendChild(h("a", {"class": "file", href: url, download: file.filename || "file",
        onclick: function (e) { e.preventDefault(); download(url, file.filename || "file"); },
        text: "📎 " + (file.filename || "file") + (file.size ? " (" + size(file.size) + ")" : "")}));
    });
    children.push(bubble);
    item.meta = h("span", {"class": "meta"});
    children.push(item.meta);
    if (item.from === "agent") item.meta.textContent = clock(item.at);
    item.el = h("li", {"class": "msg " + item.from}, children);
    var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    log.appendChild(item.el);
    if (nearBottom || item.from === "visitor") log.scrollTop = log.scrollHeight;
    items.push(item);
    if (item.id) byId[item.id] = item;
    if (item.seq) bySeq[item.seq] = item;
    return item;
  }

  function confirm(item, seq) {
    if (seq) { item.seq = seq; bySeq[seq] = item; }
    if (item.pending) { item.pending = false; savePending(); }
    refreshStatuses();
  }

  function refreshStatuses() {  // "Sending…" on what waits, "Sent" or "Seen" on the visitor's last stored message
    var last = null;
    items.forEach(function (item) {
      if (item.from !== "visitor") return;
      item.el.classList.toggle("failed", !!item.failed);
      item.meta.textContent = item.failed ? "Not sent: " + item.failed : item.pending ? "Sending…" : clock(item.at);
      if (!item.pending && !item.failed && item.seq) last = item;
    });
    if (last) last.meta.textContent = join(clock(last.at), last.seq <= agentRead ? "Seen" : "Sent");
  }

  function clock(at) {
    var date = at ? new Date(at) : null;
    return date && !isNaN(date) ? date.toLocaleTimeString([], {hour: "numeric", minute: "2-digit"}) : "";
  }
  function join(a, b) { return a && b ? a + " · " + b : a || b; }

  function transmit(item) {
    item.sentAt = Date.now();
    if (item.failed) { item.failed = null; refreshStatuses(); }
    sendFrame({type: "message", id: item.id, text: item.text});
  }

  function savePending() {  // kept across a reload too: a message typed offline is never lost
    var pending = items.filter(function (i) { return i.pending; }).map(function (i) { return {id: i.id, text: i.text, at: i.at}; });
    save(STORE + ":pending", pending.length ? JSON.stringify(pending) : null);
  }

  function sendTyped() {
    var text = textarea.value.replace(/^\s+|\s+$/g, "");
    if (!text) return;
    showNotice("");
    if (text.length > MAX_TEXT) { showNotice("A message can be at most " + MAX_TEXT + " characters long.", true); return; }
    textarea.value = "";
    growTextarea();
    stopTyping();
    var item = addItem({id: uuid(), from: "visitor", text: text, at: new Date().toISOString(), pending: true, sentAt: 0});
    savePending();
    refreshStatuses();
    ensureSession().then(function () { if (ready) transmit(item); }, function (error) {
      item.failed = failure(error);  // still pending: the next message tries again and takes it along
      refreshStatuses();
    });
  }

  function onComposeKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendTyped();
    }
  }
  function onComposeInput() {
    growTextarea();
    if (!textarea.value) { stopTyping(); return; }
    if (!typingSent && sendFrame({type: "typing", state: true})) typingSent = true;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(stopTyping, 3000);
  }
  function stopTyping() {
    clearTimeout(typingTimer);
    if (typingSent) sendFrame({type: "typing", state: false});
    typingSent = false;
  }
  function growTextarea() {  // CSSOM, not a style attribute: allowed under a strict CSP
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 140) + "px";
  }

  function markRead() {
    if (!isOpen || document.hidden || !ready || lastAgentSeq <= sentRead) return;
    if (sendFrame({type: "read", seq: lastSeq})) sentRead = lastAgentSeq;
  }

  // ---- files ----
  function size(bytes) {
    return bytes < 1024 ? bytes + " B" : bytes < 1048576 ? Math.round(bytes / 1024) + " KB" : (bytes / 1048576).toFixed(1) + " MB";
  }
  function onFileChosen() {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    if (file.size > MAX_FILE) {
      showNotice(file.name + " is " + size(file.size) + ": files can be at most 10 MB.", true);
      return;
    }
    var item = addItem({from: "visitor", text: "📎 " + file.name, pending: false});
    item.meta.textContent = "Uploading…";
    ensureSession().then(function () {
      var form = new FormData();
      form.append("file", file, file.name);
      return request("POST", "upload", form);
    }).then(function (message) {
      removeItem(item);
      showMessage(message);
    }, function (error) {
      item.el.classList.add("failed");
      item.meta.textContent = "Not sent: " + (error.detail || (error.status === 413 ? "files can be at most 10 MB"
        : error.status === 415 ? "this type of file cannot be sent" : failure(error)));
    });
  }
  function download(url, filename) {
    // with the token in a header, not in an address that history, logs and referrers would keep
    fetch(url, {headers: {Authorization: "Bearer " + token}, credentials: "omit", mode: "cors"}).then(function (r) {
      if (!r.ok) throw new Error("The file could not be downloaded (" + r.status + ").");
      return r.blob();
    }).then(function (blob) {
      var link = h("a", {href: URL.createObjectURL(blob), download: filename, hidden: true});
      frame.appendChild(link);
      link.click();
      setTimeout(function () { URL.revokeObjectURL(link.href); frame.removeChild(link); }, 1000);
    }).catch(function (error) { showNotice(error.message, true); });
  }
  function removeItem(item) {
    items.splice(items.indexOf(item), 1);
    if (item.el.parentNode) item.el.parentNode.removeChild(item.el);
  }

  // ---- forms ----
  function validEmail(value) { return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value); }
  function busy(form, on) { form.querySelector("[type=submit]").disabled = on; }

  function onPrechat(e) {
    e.preventDefault();
    var fields = {name: prechatName.value.trim()};
    if (!prechatEmailField.hidden) fields.email = prechatEmail.value.trim();
    prechatError.textContent = fields.email && !validEmail(fields.email) ? "Please check the email address." : "";
    prechatEmail.setAttribute("aria-invalid", String(!!prechatError.textContent));
    if (prechatError.textContent) { prechatEmail.focus(); return; }
    busy(prechat, true);
    ensureSession(fields).then(function () {
      busy(prechat, false);
      render();
      textarea.focus();
    }, function (error) {
      busy(prechat, false);
      prechatError.textContent = failure(error);
    });
  }

  function onOffline(e) {
    e.preventDefault();
    var fields = {name: offlineName.value.trim() || me.name || "", email: offlineEmailField.hidden ? me.email : offlineEmail.value.trim()};
    var text = offlineText.value.trim();
    var badEmail = !validEmail(fields.email || "");
    offlineError.textContent = badEmail ? "Please give an email address we can answer." :
      !text ? "Please write your message." : "";
    offlineEmail.setAttribute("aria-invalid", String(badEmail));
    if (offlineError.textContent) { (badEmail && !offlineEmailField.hidden ? offlineEmail : offlineText).focus(); return; }
    busy(offline, true);
    // under enforced verification an unsigned visitor's email is only where to answer, not who they are
    var claim = config.enforce_verification && !SIGNED ? {name: fields.name} : fields;
    ensureSession(token ? null : claim).then(function () {
      return request("POST", "offline", {email: fields.email, name: fields.name || undefined, text: text});
    }).then(function () {
      busy(offline, false);
      offlineText.value = "";
      render();  // the message is the conversation's first: it comes back over the socket like any other
      showNotice("Thanks! We'll answer by email to " + fields.email + ".", false);
    }, function (error) {
      busy(offline, false);
      offlineError.textContent = failure(error);
    });
  }

  function showTranscriptForm() {
    if (me.email) { sendTranscript(null); return; }
    transcript.hidden = !transcript.hidden;
    if (!transcript.hidden) transcriptEmail.focus();
  }
  function onTranscript(e) {
    e.preventDefault();
    var email = transcriptEmail.value.trim();
    transcriptError.textContent = validEmail(email) ? "" : "Please check the email address.";
    if (!transcriptError.textContent) sendTranscript(email);
  }
  function sendTranscript(email) {
    request("POST", "transcript", email ? {email: email} : {}).then(function () {
      transcript.hidden = true;
      showNotice("We've emailed the transcript to " + (email || me.email) + ".", false);
    }, function (error) {
      if (!transcript.hidden) transcriptError.textContent = failure(error); else showNotice(failure(error), true);
    });
  }

  var noticeTimer = null;
  function showNotice(text, isError) {
    clearTimeout(noticeTimer);
    if (text && !isError) noticeTimer = setTimeout(function () { showNotice(""); }, 8000);
    notice.textContent = text;
    notice.className = "notice" + (isError ? " error" : "");
    notice.hidden = !text;
  }

  // ---- what the panel shows ----
  function isOffline() { return config && !(config.online && config.open_now); }
  function prechatFields() {
    var fields = (config.prechat_fields || []).slice();
    if (config.enforce_verification && !SIGNED) fields = fields.filter(function (f) { return f !== "email"; });
    return SIGNED ? [] : fields;  // a signed identity names the visitor already
  }
  function render() {
    if (!config) return;
    var offlineMode = isOffline() && !token;  // a conversation under way goes on: answered here, or by email
    var needPrechat = !token && !offlineMode && prechatFields().length > 0;
    prechat.hidden = !needPrechat;
    prechatNameField.hidden = prechatFields().indexOf("name") < 0;
    prechatEmailField.hidden = prechatFields().indexOf("email") < 0;
    offline.hidden = !offlineMode;
    offlineIntro.textContent = config.open_now === false
      ? "We're outside our opening hours right now. Leave a message and we'll answer by email."
      : "No one is available to chat right now. Leave a message and we'll answer by email.";
    offlineNameField.hidden = !!me.name || SIGNED;
    offlineEmailField.hidden = !!me.email;
    compose.hidden = needPrechat || offlineMode;
    transcriptButton.hidden = !token || (!me.email && config.enforce_verification && !me.verified);
    renderStatus();
  }
  function renderStatus() {
    statusLine.textContent = token && !ready && !stopped && (ws === null || attempts > 0) ? "Reconnecting…"
      : isOffline() ? (me.email ? "Away: we'll answer by email to " + me.email : token ? "Away: we'll answer here" : "Away right now")
      : "Online: we answer in minutes";
  }
  function renderBadge() {
    badge.textContent = unread > 9 ? "9+" : String(unread);
    badge.hidden = unread === 0;
    launcherLabel.textContent = "Chat with us" + (unread ? " (" + unread + " new)" : "");  // aria-expanded tells open
  }

  function onPanelKey(e) {
    if (e.key === "Escape" || e.key === "Esc") { e.preventDefault(); toggle(false); return; }
    // full screen on a phone, the panel is all there is: Tab cycles inside it instead of the page behind
    if (e.key !== "Tab" || !window.matchMedia || !window.matchMedia("(max-width: 480px)").matches) return;
    var focusable = Array.prototype.filter.call(panel.querySelectorAll("button, input, textarea, [tabindex='0']"),
      function (el) { return !el.disabled && el.getClientRects().length && el.tabIndex >= 0; });
    var first = focusable[0], last = focusable[focusable.length - 1], active = root.activeElement;
    if (e.shiftKey ? active === first : active === last) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  }

  function toggle(open) {
    isOpen = open;
    panel.hidden = !open;
    frame.classList.toggle("open", open);
    launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      unread = 0;
      announcer.textContent = "";
      render();
      var first = [prechatName, prechatEmail, offlineName, offlineEmail, offlineText, textarea].filter(function (el) {
        return !el.closest("form").hidden && !el.closest("label").hidden;
      })[0];
      if (first) first.focus();
      log.scrollTop = log.scrollHeight;
      markRead();
    } else {
      launcher.focus();
    }
    renderBadge();
  }

  function start(answer) {
    config = answer;
    var colour = /^#[0-9a-f]{6}$/i.test(config.colour || "") ? config.colour : "#0b5cad";
    var rgb = [1, 3, 5].map(function (i) { var c = parseInt(colour.substr(i, 2), 16) / 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
    frame.style.setProperty("--hd-accent", colour);  // CSSOM: allowed under a strict CSP
    frame.style.setProperty("--hd-on-accent", 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2] > 0.4 ? "#1f2328" : "#fff");
    title.textContent = config.name || "Chat";
    launcherLabel.textContent = "Chat with us";
    if (config.greeting) log.appendChild(h("li", {"class": "msg agent"}, [h("div", {"class": "bubble", text: config.greeting})]));
    adoptStyles();
    root.appendChild(frame);
    (document.body || document.documentElement).appendChild(host);
    loadJson(STORE + ":pending", []).forEach(function (p) {  // typed before a reload and never acknowledged
      if (p && p.id && p.text) addItem({id: p.id, from: "visitor", text: p.text, at: p.at, pending: true, sentAt: 0});
    });
    render();
    refreshStatuses();
    if (token && SIGNED) ensureSession({}).catch(function () { connect(); });  // link this visit to the signed user
    else if (token) connect();
    window.addEventListener("online", reconnectNow);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { reconnectNow(); markRead(); } });
  }

  request("GET", "config").then(start, function (error) {
    if (window.console) window.console.warn("helpdesk chat: no widget for channel " + KEY + ": " + failure(error));
  });
})();
