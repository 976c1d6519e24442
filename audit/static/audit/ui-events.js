/*!
 * The project's own UI events, recorded through DG.Logger (logger.js, loaded first).
 *
 * - main-menu-item-click: a link of `nav.mainmenu` is clicked.
 *   params: {item: its label, href}.
 * - dialog-ok: a confirmation is accepted. A form with `data-confirm="Question?"` asks
 *   with the browser's confirm() before it submits (Cancel stops the submit, and
 *   nothing is recorded); a form with `data-dialog="NAME"` is itself a small dialog
 *   (share, comment) whose submit is its OK. params: {dialog, action}.
 * - viewer-rendered: an element with `data-viewer="table|chart|..."` is on the page
 *   when it loads (optional `data-viewer-name`, and for tables the number of body rows).
 *   Code that draws a viewer later calls DG.ui.viewerRendered(element or details).
 *
 * The menu click is logged while the browser starts to navigate away: the logger
 * stores the event before the click finishes and sends it on pagehide or from the next
 * page, so it is not lost.
 */
(function () {
  'use strict';

  var DG = window.DG;
  if (!DG || !DG.Logger) return;
  var ui = new DG.Logger();

  function label(element) {
    return (element.getAttribute('aria-label') || element.textContent || '').replace(/\s+/g, ' ').trim();
  }

  function path() {
    return window.location.pathname;
  }

  document.addEventListener('click', function (event) {
    if (event.button !== 0 || !event.target || !event.target.closest) return;
    var link = event.target.closest('nav.mainmenu a[href]');
    if (!link) return;
    var item = label(link);
    ui.log(item, {item: item, href: link.getAttribute('href'), page: path()}, 'main-menu-item-click');
  }, true);

  // Capture phase: a cancelled confirmation must stop the submit before any other
  // handler of the form (or of the page) acts on it.
  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute('data-confirm');
    var dialog = form.getAttribute('data-dialog');
    if (question === null && dialog === null) return;
    if (question !== null && !window.confirm(question)) {
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    var name = dialog || form.getAttribute('name') || form.getAttribute('action') || path();
    ui.log(question || name, {
      dialog: name,
      action: form.getAttribute('action') || path(),
      page: path(),
    }, 'dialog-ok');
  }, true);

  /** Record that a viewer (a table, a chart) was drawn: an element or {viewer, name, ...}. */
  function viewerRendered(target) {
    var params;
    if (target instanceof Element) {
      params = {viewer: target.getAttribute('data-viewer') || target.tagName.toLowerCase()};
      var name = target.getAttribute('data-viewer-name');
      if (name) params.name = name;
      if (target instanceof HTMLTableElement) params.rows = target.tBodies.length
        ? Array.prototype.reduce.call(target.tBodies, function (n, body) { return n + body.rows.length; }, 0)
        : target.rows.length;
    } else {
      params = Object.assign({}, target);
    }
    params.page = path();
    var message = 'Rendered ' + params.viewer + (params.name ? ' ' + params.name : '');
    return ui.log(message, params, 'viewer-rendered');
  }

  function renderedOnLoad() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-viewer]'), viewerRendered);
  }

  DG.ui = Object.assign(DG.ui || {}, {logger: ui, viewerRendered: viewerRendered});
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', renderedOnLoad);
  else renderedOnLoad();
})();
