// Refreshes the overview's live part every few seconds without reloading the page.
// No library: fetch() swaps in the server-rendered fragment. Without JavaScript the page still
// works (a <noscript> meta refresh reloads it every 30 s).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var src = live.getAttribute("data-src");
  var interval = parseInt(live.getAttribute("data-interval"), 10) || 5000;
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, interval) : null;
    fetch(src, { credentials: "same-origin", cache: "no-store", signal: controller && controller.signal })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
      .then(function (html) { live.innerHTML = html; live.removeAttribute("data-stale"); })
      .catch(function () { live.setAttribute("data-stale", "true"); })
      .then(function () { busy = false; if (timer) { clearTimeout(timer); } });
  }
  setInterval(refresh, interval);
  document.addEventListener("visibilitychange", refresh);
}());
