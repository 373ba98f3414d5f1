// The chat channels admin screen: "Copy" buttons (the embed snippet, a secret shown once) and a
// confirm before forms marked data-confirm (rotating a secret, switching a channel off).
(function () {
  "use strict";

  // A page answering a post (create, rotate, save) takes the channel's own address, so a reload
  // shows the page again instead of posting twice: no second channel, no second rotation.
  function settleAddress() {
    var main = document.querySelector("main[data-address]");
    if (main && location.pathname !== main.dataset.address) history.replaceState(null, "", main.dataset.address);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", settleAddress);
  else settleAddress();

  function say(text) {
    var status = document.getElementById("copy-status");
    if (status) status.textContent = text;
  }

  function copyByHand(text) {
    // without the async clipboard (an http:// console not on localhost): a hidden textarea and execCommand
    var area = document.createElement("textarea");
    area.value = text; area.setAttribute("readonly", ""); area.className = "sr-only";
    document.body.appendChild(area); area.select();
    var done = false;
    try { done = document.execCommand("copy"); } catch (e) { done = false; }
    area.remove();
    return done;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.dataset.copy);
    if (!source) return;
    var text = source.textContent.trim();
    function copied() { button.textContent = "Copied"; say("Copied to the clipboard."); }
    function failed() { say("Could not copy: select the text and copy it by hand."); }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(copied, function () { if (copyByHand(text)) copied(); else failed(); });
    } else if (copyByHand(text)) {
      copied();
    } else {
      failed();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
