// Wattline's small progressive enhancements. Pages work without this file.
(function () {
  "use strict";
  // Pause htmx polling while the tab is hidden; resume (and refresh) when it is shown.
  document.addEventListener("visibilitychange", function () {
    if (!window.htmx) { return; }
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      if (document.hidden) {
        el.setAttribute("data-paused", "true");
      } else if (el.getAttribute("data-paused") === "true") {
        el.removeAttribute("data-paused");
        window.htmx.trigger(el, "refresh");
      }
    });
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = event.detail.elt;
    if (el && el.getAttribute && el.getAttribute("data-paused") === "true") {
      event.preventDefault();
    }
  });
})();
