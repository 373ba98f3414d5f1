// Small console behaviours htmx does not cover: reply/note mode styling, opening a ticket at
// its newest message, keeping the open ticket's queue row highlighted, tidy filter URLs,
// canned responses inserted at the cursor, errors the server placed shown.
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    if (event.target.id === "bulk-action") {
      // the tag box belongs to the two tag changes; the other changes are whole choices
      var tags = document.getElementById("bulk-tags");
      if (tags) tags.hidden = !/^(un)?tag$/.test(event.target.value);
    }
    if (event.target.name === "mode" && event.target.form) {
      event.target.form.classList.toggle("mode-note", event.target.value === "note");
      event.target.form.classList.toggle("mode-reply", event.target.value !== "note");
    }
  });

  // a ticket opens at its newest message, like a chat; the reply box follows it
  function showLatest() {
    var timeline = document.getElementById("timeline");
    // the newest item (a message, or the history lines after it such as "First response met")
    var last = timeline && timeline.lastElementChild;
    if (!last) return;
    // above the sticky reply box, however tall it is now (a draft's status line, files, a long draft)
    var box = document.getElementById("reply-box");
    if (box && getComputedStyle(box).position === "sticky") last.style.scrollMarginBottom = (box.offsetHeight + 8) + "px";
    last.scrollIntoView({ block: "nearest" });
  }

  // the newest message on screen, above the reply box (which stays in view at the foot of a long thread)
  function latestInView() {
    var messages = document.querySelectorAll("#timeline > .message");
    var pane = document.getElementById("workspace");
    if (!messages.length || !pane) return false;
    var last = messages[messages.length - 1].getBoundingClientRect(), view = pane.getBoundingClientRect();
    var box = document.getElementById("reply-box");
    return last.bottom > view.top && last.top < Math.min(view.bottom, box ? box.getBoundingClientRect().top : view.bottom);
  }

  // the conversation re-rendered (a reply just sent, a live update, a delivery failing): the newest
  // message stays in view if it was, and a reply just sent comes into view, not under the reply box
  var followLatest = false;
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "conversation") {
      followLatest = event.detail.elt.id === "reply-form" || latestInView();
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (followLatest && event.detail.target && event.detail.target.id === "conversation") {
      followLatest = false;
      showLatest();
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "workspace") showLatest();
    var view = document.querySelector("[data-current-ticket]");
    var current = view ? view.dataset.currentTicket : null;
    document.querySelectorAll("#queue-list [data-ticket-id]").forEach(function (row) {
      var on = row.dataset.ticketId === current;
      row.classList.toggle("current", on);
      var link = row.querySelector("a.row-link");
      if (link) { if (on) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current"); }
    });
  });

  // "Any status" and friends are empty values: leave them out of the URL that gets pushed (the
  // queue's sort select sits in the list's header but belongs to the filters form)
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!(elt.closest && elt.closest("#queue-filters")) && elt.id !== "queue-sort") return;
    var params = event.detail.parameters;
    Array.from(params.keys ? params.keys() : Object.keys(params)).forEach(function (key) {
      var value = params.get ? params.get(key) : params[key];
      if (value === "") { if (params.delete) params.delete(key); else delete params[key]; }
    });
  });

  // at the cursor, replacing any selection; execCommand keeps the browser's undo history (and fires
  // "input", which presence.js hears as typing), setRangeText is the fallback where it is gone
  function insertAtCursor(box, text) {
    box.focus();
    if (!document.execCommand("insertText", false, text)) {
      box.setRangeText(text, box.selectionStart, box.selectionEnd, "end");
      box.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (event.target.id === "canned-select" && xhr.status === 200) {
      // a canned response, filled in as plain text: into the draft where the agent is writing
      event.detail.shouldSwap = false;
      var box = document.getElementById("reply-body");
      var error = document.getElementById("canned-error");
      if (box) insertAtCursor(box, xhr.responseText);
      if (error) { error.hidden = true; error.textContent = ""; }
    } else if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      // an error the server placed (#console-alert, a field's message): htmx drops 4xx/5xx bodies unless told
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt;
    if (elt.id === "canned-select") elt.value = ""; // ready for the next pick
  });

  // a live refresh of the queue would drop the rows an agent has ticked for a bulk action
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.id === "queue-refresh" && document.querySelector("#queue-list input:checked")) {
      event.preventDefault();
    }
  });

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest && event.target.closest("[data-dismiss-alert]");
    if (dismiss) dismiss.parentElement.hidden = true;
  });

  document.addEventListener("DOMContentLoaded", showLatest);
})();
