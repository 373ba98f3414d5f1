// Narrow screens: the "Reply ↓" link (#jump-to-reply, floating at the foot of the screen, console.css) shows
// only while the reply box is out of view. Re-attached whenever htmx brings in a new reply box or workspace.
(function () {
  "use strict";

  var observer = null;

  function watch() {
    var box = document.getElementById("reply-box"), jump = document.getElementById("jump-to-reply");
    if (observer) observer.disconnect();
    if (!box || !jump || !window.IntersectionObserver) return;
    observer = new IntersectionObserver(function (entries) {
      var link = document.getElementById("jump-to-reply");
      if (link) link.classList.toggle("out-of-view", !entries[entries.length - 1].isIntersecting);
    });
    observer.observe(box);
  }

  document.addEventListener("DOMContentLoaded", watch);
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail.elt;
    if (elt.id === "reply-box" || (elt.querySelector && elt.querySelector("#reply-box"))) watch();
  });
})();
