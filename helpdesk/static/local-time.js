// Times in the agent's own time zone. Forms that send a time carry the zone it was chosen in
// (input[data-timezone]: the IANA name; input[data-timezone-offset]: getTimezoneOffset() for a
// browser that names none), and <time data-local datetime="..."> shows its moment in local time,
// "Tue 2 Dec, 09:00". Runs on the page and on every piece htmx swaps in (htmx:load).
(function () {
  "use strict";

  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
  var format = new Intl.DateTimeFormat("en-GB", {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23"
  });

  function localText(date) {
    var part = {};
    format.formatToParts(date).forEach(function (p) { part[p.type] = p.value; });
    return part.weekday + " " + part.day + " " + part.month + ", " + part.hour + ":" + part.minute;
  }

  function within(root, selector) {
    var found = Array.from(root.querySelectorAll ? root.querySelectorAll(selector) : []);
    if (root.matches && root.matches(selector)) found.unshift(root);
    return found;
  }

  function localise(root) {
    within(root, "input[data-timezone]").forEach(function (input) { input.value = zone; });
    within(root, "input[data-timezone-offset]").forEach(function (input) {
      input.value = String(new Date().getTimezoneOffset());
    });
    within(root, "time[data-local]").forEach(function (time) {
      var when = new Date(time.getAttribute("datetime"));
      if (!isNaN(when.getTime())) time.textContent = localText(when);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:load", function (event) { localise(event.detail.elt); });
})();
