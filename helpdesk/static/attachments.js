// The image viewer: a thumbnail (a[data-viewer-image], templates/console/_message_files.html) opens
// #attachment-viewer with the full image; ←/→ (or the buttons, or a swipe) go through the ticket's
// images, Esc or Close closes it and the focus goes back to the thumbnail of the image last shown.
// Event delegation on the document, so thumbnails htmx swaps in later work too; without this script
// a thumbnail is a link that opens the image in a new tab.
(function () {
  "use strict";

  var items = [];  // the ticket's images when the viewer opened: {id, href, filename, size}
  var current = 0;

  function el(id) { return document.getElementById(id); }

  function thumbnails() {
    return Array.prototype.slice.call(document.querySelectorAll("#timeline a[data-viewer-image]"));
  }

  function describe(link) {
    return { id: link.dataset.attachmentId, href: link.getAttribute("href"),
             filename: link.dataset.filename || "", size: link.dataset.size || "" };
  }

  function show(index) {
    var dialog = el("attachment-viewer");
    var item = items[index];
    if (!dialog || !item) return;
    current = index;
    var image = el("attachment-viewer-image");
    var status = el("attachment-viewer-status");
    dialog.classList.add("loading");
    dialog.classList.remove("failed");
    status.textContent = "Loading…";
    image.alt = item.filename;
    image.src = item.href;
    el("attachment-viewer-title").textContent = item.filename;
    el("attachment-viewer-position").textContent =
      (items.length > 1 ? (index + 1) + " of " + items.length + " · " : "") + item.size;
    var download = el("attachment-viewer-download");
    download.href = item.href + "?download=1";
    download.setAttribute("download", item.filename);
    download.setAttribute("aria-label", "Download " + item.filename);
    el("attachment-viewer-prev").disabled = index === 0;
    el("attachment-viewer-next").disabled = index === items.length - 1;
    dialog.classList.toggle("single", items.length < 2);
  }

  function step(by) {
    var next = current + by;
    if (next >= 0 && next < items.length) show(next);
  }

  function open(link) {
    var dialog = el("attachment-viewer");
    if (!dialog || typeof dialog.showModal !== "function") return false;
    var links = thumbnails();
    items = links.map(describe);
    var index = links.indexOf(link);
    show(index === -1 ? 0 : index);
    if (!dialog.open) dialog.showModal();
    el("attachment-viewer-close").focus();
    return true;
  }

  function closed() {
    var item = items[current];
    var image = el("attachment-viewer-image");
    image.removeAttribute("src");  // stop a large image still loading
    var thumb = item && document.querySelector('#timeline a[data-viewer-image][data-attachment-id="' + item.id + '"]');
    if (thumb) thumb.focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-viewer-image]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    if (open(link)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var dialog = el("attachment-viewer");
    if (!dialog) return;
    var image = el("attachment-viewer-image");
    var status = el("attachment-viewer-status");
    image.addEventListener("load", function () { dialog.classList.remove("loading"); status.textContent = ""; });
    image.addEventListener("error", function () {
      if (!image.getAttribute("src")) return;
      dialog.classList.remove("loading");
      dialog.classList.add("failed");
      status.textContent = "This image cannot be shown here. Download it to open it.";
    });
    el("attachment-viewer-prev").addEventListener("click", function () { step(-1); });
    el("attachment-viewer-next").addEventListener("click", function () { step(1); });
    dialog.addEventListener("close", closed);
    dialog.addEventListener("keydown", function (event) {
      // the console's single-key shortcuts (s solves, a assigns...) must not act behind the viewer
      event.stopPropagation();
      if (event.key === "ArrowLeft") { step(-1); event.preventDefault(); }
      else if (event.key === "ArrowRight") { step(1); event.preventDefault(); }
      else if (event.key === "Home") { show(0); event.preventDefault(); }
      else if (event.key === "End") { show(items.length - 1); event.preventDefault(); }
    });
    // a click on the dark area around the image closes, as in every photo viewer
    dialog.addEventListener("click", function (event) {
      if (event.target.classList.contains("viewer-stage") || event.target.classList.contains("viewer-figure")) dialog.close();
    });
    // phones: swipe left or right
    var start = null;
    dialog.addEventListener("pointerdown", function (event) {
      start = event.pointerType === "mouse" ? null : { x: event.clientX, y: event.clientY };
    });
    dialog.addEventListener("pointerup", function (event) {
      if (!start) return;
      var dx = event.clientX - start.x, dy = event.clientY - start.y;
      start = null;
      if (Math.abs(dx) > 50 && Math.abs(dx) > 2 * Math.abs(dy)) step(dx < 0 ? 1 : -1);
    });
  });
})();
