// Realty Ledger console: the only script the pages run (the Content-Security-Policy allows no other).
(function () {
  "use strict";
  // Dates are shown in the browser's time zone: tell the server which one it is, once.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var shown = document.documentElement.getAttribute("data-zone");
    // What the server was told last: a zone it does not know (shown stays Shanghai) is not told twice.
    var told = "";
    document.cookie.split("; ").forEach(function (c) {
      if (c.indexOf("realty_console_tz=") === 0) { told = decodeURIComponent(c.substring(17)); }
    });
    if (zone && zone !== shown && zone !== told) {
      document.cookie = "realty_console_tz=" + encodeURIComponent(zone) + "; path=/console; max-age=31536000; SameSite=Strict";
      location.reload();
    }
  } catch (e) { /* an old browser: Asia/Shanghai it is */ }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    // One press, one command (the form key makes a second one harmless anyway).
    var buttons = form.querySelectorAll("button[type=submit]");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
  });
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-autosubmit")) { event.target.form.submit(); }
  });
})();
