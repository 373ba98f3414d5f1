// SLA clocks count down in the browser: amber when close, red when breached, grey when paused.
// The server renders due times (data-due, UTC ISO); this only redraws them once a second.
(function () {
  "use strict";
  var WARN_SECONDS = 3600;

  function format(seconds) {  // of a length: overdue is said in words ("overdue by 1d 2h"), never "-1d 2h"
    seconds = Math.abs(Math.round(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600),
        m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + String(m).padStart(2, "0") + "m";
    return m + "m " + String(s).padStart(2, "0") + "s";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".sla-clock[data-due]").forEach(function (el) {
      var state = el.dataset.state, out = el.querySelector(".sla-remaining");
      if (!out || state === "met" || !el.dataset.due) return;
      if (state === "paused") {  // business time, worked out by the server: never negative
        var left = Number(el.dataset.pausedRemaining || 0);
        out.textContent = "paused, " + ("pausedOverdue" in el.dataset ? "overdue by " + format(left) : format(left) + " left");
        return;
      }
      var remaining = (Date.parse(el.dataset.due) - now) / 1000;
      var cls = remaining <= 0 ? "sla-breached" : remaining <= WARN_SECONDS ? "sla-warning" : "sla-running";
      el.classList.remove("sla-breached", "sla-warning", "sla-running");
      el.classList.add(cls);
      out.textContent = remaining <= 0 ? "overdue by " + format(-remaining) : format(remaining) + " left";
    });
  }

  tick();
  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSwap", tick);
})();
