// Relative times ("5 min ago", "in 2 h") stay true while a page sits open all day: the server
// renders them (pages._ago, worded the same way) and this redraws every <time data-ago> once a
// minute and after every htmx swap. The tooltip names the exact moment in the agent's time zone,
// after the label the element carries (data-ago="Last activity").
(function () {
  "use strict";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var EXACT = { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit",
                minute: "2-digit", hourCycle: "h23", timeZoneName: "short" };

  function ago(when, now) {
    var seconds = (now - when) / 1000, minutes = Math.floor(Math.abs(seconds) / 60);
    if (minutes < 1) return "just now";
    if (minutes >= 7 * 24 * 60) {
      var year = when.getUTCFullYear() === now.getUTCFullYear() ? "" : " " + when.getUTCFullYear();
      return when.getUTCDate() + " " + MONTHS[when.getUTCMonth()] + year;
    }
    var amount = minutes < 60 ? minutes + " min"
      : minutes < 24 * 60 ? Math.floor(minutes / 60) + " h" : Math.floor(minutes / 1440) + " d";
    return seconds > 0 ? amount + " ago" : "in " + amount;
  }

  function redraw() {
    var now = new Date();
    document.querySelectorAll("time[data-ago]").forEach(function (time) {
      var when = new Date(time.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      time.textContent = ago(when, now);
      // a queue row's due time passing while it is shown: it is overdue now, and says so in red
      var due = time.parentElement;
      if (time.getAttribute("data-ago") === "Due" && due && due.classList.contains("due") && when <= now &&
          !due.classList.contains("breached")) {
        due.classList.add("breached");
        if (due.firstChild && due.firstChild.nodeType === Node.TEXT_NODE) due.firstChild.textContent = "breached ";
      }
      if (!time.dataset.localTitle) {
        var label = time.getAttribute("data-ago");
        time.title = (label ? label + ": " : "") + when.toLocaleString("en-GB", EXACT);
        time.dataset.localTitle = "1";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", redraw);
  document.addEventListener("htmx:load", redraw);
  setInterval(redraw, 60 * 1000);
})();
