/* Researcher portal: progressive enhancements only; every page works without JavaScript. */
(function () {
  "use strict";

  function announce(targetId, text) {
    var status = document.querySelector('[data-copy-status="' + targetId + '"]');
    if (status) { status.textContent = text; }
  }

  function copyFrom(targetId) {
    var field = document.getElementById(targetId);
    if (!field) { return; }
    var value = field.value !== undefined ? field.value : field.textContent;
    function fallback() {
      // Older browsers, or pages not in a secure context: select the text and copy it.
      field.focus();
      field.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      announce(targetId, ok ? "Copied." : "Select the text and press Ctrl+C (⌘C) to copy it.");
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(function () { announce(targetId, "Copied."); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) {
      event.preventDefault();
      copyFrom(button.getAttribute("data-copy"));
    }
  });
})();
