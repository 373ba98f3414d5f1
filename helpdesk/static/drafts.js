// Drafts (helpdesk/tickets/drafts.py): what the agent writes in the reply box is kept on the server,
// per ticket and agent, so a reload or another device finds it. Saved a second after the last
// keystroke, at once on a mode change, when the tab is hidden and when leaving the ticket (a keepalive
// request outlives the page); "Draft saved 14:02" says so quietly. Sending or discarding waits for a
// save under way, so a late save cannot bring back a draft that was just sent.
(function () {
  "use strict";
  var DELAY_MS = 1000, RETRY_MS = 5000;
  var KEEPALIVE_BYTES = 60000;  // browsers refuse keepalive requests past 64 KiB of bodies in flight
  var LEAVE_WARNING = "Your draft on this ticket is not saved. Leave it anyway?";

  var timer = null;
  var inflight = null;  // the save under way (a Promise)
  var sending = null;  // the reply form whose own request (a send) is under way: it ends the draft
  var saved = {};  // draft URL -> what the server holds, as far as this page knows (see key)
  var failed = {};  // draft URL -> true while its last save did not go through

  function form() { return document.getElementById("reply-form"); }

  function snapshot(f) {
    var mode = f.querySelector("input[name=mode]:checked");
    var body = f.querySelector("textarea[name=body]");
    return { url: f.dataset.draftUrl, mode: mode ? mode.value : "reply", body: body ? body.value : "",
             token: (f.querySelector("input[name=_csrf_token]") || {}).value || "" };
  }

  // an empty body is no draft, whichever mode is chosen
  function key(s) { return s.body.trim() ? s.mode + "\n" + s.body : ""; }

  function dirty(f) { var s = snapshot(f); return saved[s.url] !== key(s); }

  // what the server holds now; the queue row of that ticket says "draft" while there is one
  function hold(url, held) {
    saved[url] = held;
    var ticket = /\/tickets\/(\d+)\//.exec(url);
    var mark = ticket && document.querySelector("#queue-list [data-ticket-id='" + ticket[1] + "'] .draft-mark");
    if (mark) mark.hidden = !held;
  }

  function statusOf(url) {
    var f = form();
    return f && f.dataset.draftUrl === url ? f.querySelector("#draft-status") : null;
  }

  function say(url, text) {
    var status = statusOf(url);
    if (!status) return;
    var line = document.createElement("span");
    line.className = "error";
    line.textContent = text;
    status.replaceChildren(line);
  }

  function alertAgent(text) {
    // the ticket is gone from view: the console's alert is where the agent still sees it
    var alert = document.getElementById("console-alert");
    if (!alert) return;
    var message = document.createElement("p");
    message.textContent = text;
    var dismiss = document.createElement("button");
    dismiss.type = "button"; dismiss.className = "ghost"; dismiss.textContent = "×";
    dismiss.setAttribute("aria-label", "Dismiss"); dismiss.setAttribute("data-dismiss-alert", "");
    alert.replaceChildren(message, dismiss);
    alert.hidden = false;
  }

  function answered(s, response, html) {
    var status = statusOf(s.url);
    if (response.ok) {
      hold(s.url, key(s));
      delete failed[s.url];
      if (status) htmx.swap(status, html, { swapStyle: "innerHTML" });
      return;
    }
    failed[s.url] = true;
    var retarget = response.headers.get("HX-Retarget");
    if (retarget) {
      // signed out, ticket gone...: the console's own message, where it puts every error
      htmx.swap(retarget, html, { swapStyle: response.headers.get("HX-Reswap") || "outerHTML" });
    } else if (status) {
      htmx.swap(status, html, { swapStyle: "innerHTML" });  // the draft's own error, under the box
    } else {
      alertAgent("Your draft was not saved: the server refused it (" + response.status + ").");
    }
  }

  function post(s, keepalive) {
    return fetch(s.url, {
      method: "POST", body: new URLSearchParams({ body: s.body, mode: s.mode }), credentials: "same-origin",
      keepalive: keepalive, headers: { "x-csrftoken": s.token, "HX-Request": "true" },
    });
  }

  function fitsKeepalive(s) { return new URLSearchParams({ body: s.body, mode: s.mode }).toString().length < KEEPALIVE_BYTES; }

  function flush() {
    clearTimeout(timer);
    timer = null;
    var f = form();
    if (!f || !f.dataset.draftUrl || sending === f) return Promise.resolve();
    if (inflight) return inflight.then(flush);
    if (!dirty(f)) return Promise.resolve();
    var s = snapshot(f);
    inflight = post(s, fitsKeepalive(s)).then(function (response) {
      return response.text().then(function (html) { answered(s, response, html); });
    }, function () {
      failed[s.url] = true;
      if (statusOf(s.url)) {
        say(s.url, "Draft not saved: no connection. Trying again…");
        schedule(RETRY_MS);
      } else {
        alertAgent("Your draft was not saved: there was no connection.");
      }
    }).finally(function () { inflight = null; });
    return inflight;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  }

  // a reply box arrives (page load, a ticket opened, after sending or discarding): what it shows is
  // the saved draft, unless the server marked it unsaved (a send that failed hands the text back)
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    var f = elt.id === "reply-form" ? elt : elt.querySelector && elt.querySelector("#reply-form");
    if (!f || !f.dataset.draftUrl) return;
    var s = snapshot(f);
    delete failed[s.url];
    if (f.hasAttribute("data-draft-unsaved")) {
      delete saved[s.url];
      schedule(0);
    } else {
      hold(s.url, key(s));
    }
  });

  document.addEventListener("input", function (event) {
    if (event.target.name === "body" && event.target.closest("#reply-form")) schedule(DELAY_MS);
  });
  document.addEventListener("change", function (event) {
    if (event.target.name === "mode" && event.target.closest("#reply-form")) schedule(0);
  });

  document.addEventListener("htmx:confirm", function (event) {
    var f = form();
    if (!f) return;
    var elt = event.detail.elt;
    if (elt === f || elt.id === "discard-draft") {
      // sending or discarding ends the draft: no save may land after it
      clearTimeout(timer);
      timer = null;
      if (inflight) {
        event.preventDefault();
        var issue = event.detail.issueRequest;
        inflight.then(function () { issue(); });
      }
      return;
    }
    var target = event.detail.target;
    if (target && target.contains && target.contains(f) && dirty(f)) {
      // another ticket (or page) replaces this one: save now, or say that it cannot be
      if (failed[f.dataset.draftUrl] && !window.confirm(LEAVE_WARNING)) {
        event.preventDefault();
        return;
      }
      flush();
    }
  });

  // a send that works replaces the form (its own afterRequest then never reaches the document): the
  // new form is not the one sending; a send that fails leaves the form, and afterRequest clears it
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt === form()) sending = event.detail.elt;
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt === sending) sending = null;
  });

  function leaving(event) {
    var f = form();
    if (!f || sending === f || !(dirty(f) || inflight)) return;
    var s = snapshot(f);
    if (!failed[s.url] && fitsKeepalive(s)) {
      clearTimeout(timer);
      post(s, true).catch(function () {});  // keepalive: it completes after the page is gone
      saved[s.url] = key(s);
    } else if (event.type === "beforeunload") {
      event.preventDefault();  // the browser asks "Leave site?": this draft cannot go with the page
      event.returnValue = "";
    }
  }
  window.addEventListener("beforeunload", leaving);
  window.addEventListener("pagehide", leaving);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush();
  });
})();
