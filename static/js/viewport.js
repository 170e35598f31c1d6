/*
 * The chat page fills the part of the screen that can be seen (site.css,
 * .page--chat), so its send button stays above an on-screen keyboard. Where
 * the keyboard shrinks the layout viewport (Chrome, asked to by the viewport
 * meta tag) 100dvh follows it; where it only covers the page (Safari), the
 * visual viewport's height says what is left, and goes into --viewport-height.
 */
(function () {
  "use strict";

  var viewport = window.visualViewport;
  if (!viewport) {
    return;
  }
  var root = document.documentElement;
  var queued = false;

  function apply() {
    queued = false;
    // Times the scale: pinch-zooming shrinks the visual viewport, not the screen.
    root.style.setProperty("--viewport-height", Math.round(viewport.height * viewport.scale) + "px");
  }

  function queue() {
    if (!queued) {
      queued = true;
      window.requestAnimationFrame(apply);
    }
  }

  viewport.addEventListener("resize", queue);
  apply();
})();
