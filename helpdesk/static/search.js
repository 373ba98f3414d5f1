// Search results walked with the keyboard (the WAI-ARIA combobox and listbox patterns): in the
// search box, ArrowDown/ArrowUp move the current result of the drop-down while the box keeps
// focus (aria-activedescendant); on the search page the result list itself takes focus. Enter
// opens the current result; "More results" is a result too, and loads the next page in its place.
(function () {
  "use strict";

  var box = function () { return document.getElementById("search"); };

  function options(list) {
    return Array.prototype.slice.call(list.querySelectorAll("[role=option]:not([aria-disabled=true])"));
  }

  function owner(list) { return list.id === "search-hits" ? box() : list; }

  function current(list) { return list.querySelector("[role=option][aria-selected=true]"); }

  function choose(list, option) {
    options(list).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    var who = owner(list);
    if (who) {
      if (option) who.setAttribute("aria-activedescendant", option.id); else who.removeAttribute("aria-activedescendant");
    }
    if (option) option.scrollIntoView({ block: "nearest" });
  }

  function move(list, step) {
    var all = options(list);
    if (!all.length) return;
    var index = all.indexOf(current(list));
    index = index === -1 ? (step > 0 ? 0 : all.length - 1) : Math.max(0, Math.min(all.length - 1, index + step));
    choose(list, all[index]);
  }

  var resume = null; // after "More results": the first new result becomes current

  function open(list) {
    var option = current(list);
    var link = option && option.querySelector("a");
    if (!link) return false;
    if (option.classList.contains("search-more")) resume = { list: list.id, index: options(list).indexOf(option) };
    link.click();
    return true;
  }

  // the search box walks its drop-down; on the search page, the keys walk the result list when
  // the focus is on it or on nothing in particular (the page, the workspace around the list)
  function listFor(target) {
    if (target === box()) return document.getElementById("search-hits");
    var page = document.getElementById("search-page-hits");
    if (page && target.contains && (page.contains(target) || target.contains(page))) return page;
    return null;
  }

  // capture phase: ahead of shortcuts.js, whose Enter would open a selected queue row
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.shiftKey) return;
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp" && event.key !== "Enter") return;
    var list = listFor(event.target);
    if (!list) return;
    if (event.key === "Enter") {
      if (open(list)) { event.preventDefault(); event.stopPropagation(); }
      return; // nothing current: the search box submits its form
    }
    if (list.id === "search-page-hits" && document.activeElement !== list) list.focus();
    move(list, event.key === "ArrowDown" ? 1 : -1);
    event.preventDefault();
    event.stopPropagation();
  }, true);

  // the drop-down opens and closes by its content changing (htmx swaps results in; a chosen result
  // or Escape empties it): the box says whether it is expanded and forgets a result that went away
  function dropdownChanged() {
    var input = box();
    if (!input) return;
    var dropdown = document.getElementById("search-hits");
    input.setAttribute("aria-expanded", dropdown ? "true" : "false");
    if (!dropdown || !document.getElementById(input.getAttribute("aria-activedescendant") || "")) {
      input.removeAttribute("aria-activedescendant");
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var results = document.getElementById("search-results");
    if (results) new MutationObserver(dropdownChanged).observe(results, { childList: true });
  });

  // a result chosen from the drop-down has opened in the workspace: the drop-down closes
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.elt.hasAttribute && event.detail.elt.hasAttribute("data-closes-search")) {
      var results = document.getElementById("search-results");
      if (results) results.innerHTML = "";
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!resume) return;
    var list = document.getElementById(resume.list);
    var all = list ? options(list) : [];
    if (all.length) choose(list, all[Math.min(resume.index, all.length - 1)]);
    resume = null;
  });
})();
