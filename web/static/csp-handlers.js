/* Under the Content-Security-Policy (web/security.py) a javascript: link never runs, and following one
 * is reported as a violation. Flask-Admin uses href="javascript:void(0)" as a placeholder on links whose
 * behaviour is a script's listener: keep the browser from following them. */
(function () {
  'use strict';
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[href^="javascript:"]');
    if (link) { event.preventDefault(); }
  }, true);
}());
