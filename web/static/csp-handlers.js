/* Takes over the few inline event handlers that Flask-Admin's templates (and some of ours) still write,
 * before the browser would compile them: under the Content-Security-Policy (web/security.py) inline
 * handlers and javascript: links never run, so each known form becomes an ordinary listener here.
 * Known forms: "return false;", "this.form.submit()", "return confirm(<string>);",
 * "return faHelpers.safeConfirm(<string>);" and "faForm.addInlineField(this, <string>);".
 * Anything else is left as it is (and the browser refuses it, which the CSP test would catch). */
(function () {
  'use strict';
  var EVENTS = ['click', 'change', 'submit'];

  function literal(text) {
    text = text.trim();
    if (text.charAt(0) === '"') { return JSON.parse(text); }
    if (text.charAt(0) === "'" && text.charAt(text.length - 1) === "'") {
      return text.slice(1, -1).replace(/\\(.)/g, '$1');
    }
    return null;
  }

  function handlerFor(code) {
    var body = code.trim().replace(/;$/, '').trim();
    var match;
    if (body === 'return false') {
      return function (event) { event.preventDefault(); };
    }
    if (body === 'this.form.submit()') {
      return function () { if (this.form) { this.form.submit(); } };
    }
    match = body.match(/^return\s+(?:confirm|faHelpers\.safeConfirm)\(([\s\S]*)\)$/);
    if (match) {
      var question = literal(match[1]);
      if (question === null) { return null; }
      return function (event) { if (!window.confirm(question)) { event.preventDefault(); event.stopImmediatePropagation(); } };
    }
    match = body.match(/^faForm\.addInlineField\(this,\s*([\s\S]*)\)$/);
    if (match) {
      var id = literal(match[1]);
      if (id === null) { return null; }
      return function (event) { event.preventDefault(); window.faForm.addInlineField(this, id); };
    }
    return null;
  }

  function adopt(element) {
    EVENTS.forEach(function (type) {
      var name = 'on' + type;
      if (!element.hasAttribute || !element.hasAttribute(name)) { return; }
      var handler = handlerFor(element.getAttribute(name));
      if (handler) {
        element.removeAttribute(name);
        element.addEventListener(type, handler);
      }
    });
  }

  function sweep(root) {
    if (root.nodeType !== 1) { return; }
    adopt(root);
    root.querySelectorAll('[onclick],[onchange],[onsubmit]').forEach(adopt);
  }

  // Elements in the page as parsed, then any added later (inline forms' new rows, filters).
  sweep(document.documentElement);
  new MutationObserver(function (changes) {
    changes.forEach(function (change) { change.addedNodes.forEach(sweep); });
  }).observe(document.documentElement, {childList: true, subtree: true});

  // javascript:void(0) links are placeholders for script behaviour: never navigate to them.
  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[href^="javascript:"]');
    if (link) { event.preventDefault(); }
  }, true);
}());
