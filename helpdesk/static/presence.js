// Presence: while a ticket is open, tell the server "viewing" every few seconds and "typing"
// while the reply box changes; other agents' live streams show it (collision detection).
(function () {
  "use strict";
  var HEARTBEAT_MS = 10000, TYPING_THROTTLE_MS = 2500, TYPING_IDLE_MS = 6000;
  var lastTyping = 0, lastSent = 0, lastState = "";

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"]; } catch (e) { return ""; }
  }

  function currentTicket() {
    var view = document.querySelector("[data-current-ticket]");
    return view ? view.dataset.currentTicket : null;
  }

  function send(state, ticket) {
    ticket = ticket || currentTicket();
    if (!ticket) return;
    lastSent = Date.now(); lastState = state;
    var body = new URLSearchParams({ state: state });
    var url = "/console/tickets/" + ticket + "/presence";
    // not sendBeacon: it cannot carry the CSRF header; a keepalive fetch outlives the page too
    fetch(url, { method: "POST", body: body, keepalive: state === "left", credentials: "same-origin",
                 headers: { "x-csrftoken": csrf() } }).catch(function () {});
  }

  function beat() {
    var state = Date.now() - lastTyping < TYPING_IDLE_MS ? "typing" : "viewing";
    send(state);
  }

  var shown = null;
  function watch() {
    var ticket = currentTicket();
    if (ticket !== shown) {
      if (shown) send("left", shown);
      shown = ticket;
      if (ticket) send("viewing", ticket);
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target.id !== "reply-body") return;
    lastTyping = Date.now();
    if (lastState !== "typing" || Date.now() - lastSent > TYPING_THROTTLE_MS) send("typing");
  });
  document.addEventListener("htmx:afterSettle", watch);
  document.addEventListener("DOMContentLoaded", function () {
    watch();
    setInterval(beat, HEARTBEAT_MS);
  });
  window.addEventListener("pagehide", function () { if (shown) send("left", shown); });
})();
