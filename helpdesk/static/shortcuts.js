// Keyboard shortcuts: j/k move, Enter open, r reply, n note, a assign to me, s solve, / search, ? help,
// Ctrl/Cmd+Enter in the reply box sends.
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue-list [data-ticket-id]")); }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.findIndex(function (r) { return r.classList.contains("selected"); });
    if (index === -1) index = all.findIndex(function (r) { return r.classList.contains("current"); });
    var next = all[Math.max(0, Math.min(all.length - 1, index === -1 ? 0 : index + step))];
    all.forEach(function (r) { r.classList.remove("selected"); });
    next.classList.add("selected");
    var link = next.querySelector("a.row-link");
    if (link) link.focus();
  }

  function openSelected() {
    var row = document.querySelector("#queue-list [data-ticket-id].selected");
    var link = row && row.querySelector("a.row-link");
    if (link) link.click();
  }

  function compose(mode) {
    var radio = document.getElementById(mode === "note" ? "mode-note" : "mode-reply");
    var body = document.getElementById("reply-body");
    if (radio) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
    if (body) body.focus();
  }

  function click(id) { var el = document.getElementById(id); if (el && !el.disabled) el.click(); }

  function help() {
    var dialog = document.getElementById("shortcut-help");
    if (!dialog) return;
    if (dialog.open) dialog.close(); else dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && event.target.id === "reply-body") {
      event.preventDefault();  // Ctrl/Cmd+Enter sends, as the Send button does (reply or note)
      click("send-button");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) {
      if (event.target.id === "search") { var results = document.getElementById("search-results"); if (results) results.innerHTML = ""; }
      event.target.blur();
      return;
    }
    if (typing(event.target)) return;
    var actions = {
      j: function () { move(1); }, k: function () { move(-1); },
      Enter: function () { if (document.querySelector("#queue-list .selected")) openSelected(); else return false; },
      r: function () { compose("reply"); }, n: function () { compose("note"); },
      a: function () { click("assign-to-me"); }, s: function () { click("solve-button"); },
      "/": function () { var s = document.getElementById("search"); if (s) { s.focus(); s.select(); } },
      "?": help,
    };
    var action = actions[event.key];
    if (!action) return;
    if (event.key === "Enter" && document.activeElement && document.activeElement.matches("a, button")) return;
    if (action() !== false) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("help-button");
    if (button) button.addEventListener("click", help);
  });
})();
