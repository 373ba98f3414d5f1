// The ticket's properties panel (templates/console/_ticket_properties.html): its selects save on change
// through htmx; this keeps the panel's live re-fetch from swapping it under an agent who is choosing in a
// select (it runs once the select is left), keeps tags being typed across any swap of the panel, lets
// "Saved · Undo" fade, and warns before leaving a ticket whose tags are not saved.
(function () {
  "use strict";

  var FADE_MS = 8000;
  var LEAVE = "Your tag changes on this ticket are not saved. Leave anyway?";
  var refreshPending = false;
  var carried = null;  // tags being typed while the panel is swapped: {input, value, shown, start, end}

  function tagsInput() { return document.getElementById("prop-tags"); }

  function normal(value) {
    return value.split(",").map(function (t) { return t.trim().toLowerCase(); }).filter(Boolean).sort().join(",");
  }

  function tagsDirty() {
    var input = tagsInput();
    return !!input && normal(input.value) !== normal(input.defaultValue);
  }

  function saving() {
    return Array.prototype.some.call(document.querySelectorAll("#ticket-properties .htmx-request"), function (el) {
      return el.id !== "properties-refresh";
    });
  }

  // choosing in a select, or a save on its way: a re-fetch now would undo what the agent sees (or, landing
  // first, leave the save's answer without a panel to go into)
  function busy() {
    var form = document.getElementById("properties-form");
    if (!form) return false;
    var active = document.activeElement;
    var choosing = active && active.tagName === "SELECT" && form.contains(active) && document.hasFocus();
    return choosing || saving();
  }

  function refreshIfPending() {
    if (!refreshPending || busy()) return;
    refreshPending = false;
    var refresh = document.getElementById("properties-refresh");
    if (refresh) htmx.trigger(refresh, "properties-refresh");
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt, target = event.detail.target;
    if (elt && elt.id === "properties-refresh" && busy()) {
      event.preventDefault();
      refreshPending = true;
    } else if (target && target.id === "ticket-properties" && elt && elt.id !== "properties-refresh") {
      var refresh = document.getElementById("properties-refresh");  // a save: it goes first, the re-fetch after
      if (refresh && refresh.classList.contains("htmx-request")) {
        htmx.trigger(refresh, "htmx:abort");
        refreshPending = true;
      }
    } else if (target && target.id === "workspace" && tagsDirty() && !window.confirm(LEAVE)) {
      event.preventDefault();  // opening another ticket, a queue, a search result
    }
  });

  document.addEventListener("focusout", function (event) {
    if (event.target.closest && event.target.closest("#properties-form")) setTimeout(refreshIfPending, 0);
  });
  document.addEventListener("htmx:afterRequest", function () { setTimeout(refreshIfPending, 0); });

  // the tags being typed survive a swap of the panel (a select's save, a live re-fetch, a reply), with
  // the tags they were typed over, so saving them later adds and removes what the agent meant
  function capture(target, saved) {
    var input = tagsInput();
    if (!target || target.id !== "ticket-properties" || !tagsDirty() || saved) return;
    var shown = target.querySelector("input[name=shown_tags]");
    carried = { input: input, value: input.value, shown: shown ? shown.value : "", start: input.selectionStart,
      end: input.selectionEnd };
  }

  function restore() {
    var input = tagsInput(), state = carried;
    if (!state || input === state.input) return;  // the panel is not swapped yet (htmx:afterSwap of an OOB part)
    carried = null;
    if (!state || !input || normal(state.value) === normal(input.defaultValue)) return;
    input.value = state.value;
    var shown = document.querySelector("#properties-form input[name=shown_tags]");
    if (shown) shown.value = state.shown;
    if (document.activeElement === input) {
      try { input.setSelectionRange(state.start, state.end); } catch (e) { /* not a text input */ }
    }
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var d = event.detail;
    // the whole form was posted and taken (no error): its tags are saved, nothing to carry
    var saved = d.elt && d.elt.id === "properties-form" && !/id="properties-error"/.test(d.serverResponse || "");
    capture(d.target, saved);
  });
  document.addEventListener("htmx:oobBeforeSwap", function (event) { capture(event.detail.target, false); });
  document.addEventListener("htmx:afterSwap", restore);
  document.addEventListener("htmx:oobAfterSwap", restore);

  // "Saved · Undo" and "Nothing changed." fade; a conflict stays until the agent answers it
  function fade() {
    document.querySelectorAll("#properties-notices .fades:not([data-fading])").forEach(function (notice) {
      notice.setAttribute("data-fading", "");
      setTimeout(function () { notice.remove(); }, FADE_MS);
    });
  }
  document.addEventListener("htmx:afterSettle", fade);
  document.addEventListener("DOMContentLoaded", fade);

  document.addEventListener("click", function (event) {
    var dismiss = event.target.closest && event.target.closest("#properties-notices button[name=dismiss]");
    if (dismiss) dismiss.closest(".properties-conflict").remove();
  });

  window.addEventListener("beforeunload", function (event) {
    if (!tagsDirty()) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();
