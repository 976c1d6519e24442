/* Activity panel: "load more" and filters without a page reload.
 *
 * Progressive enhancement only: every control is a plain link or GET form that works
 * without this file. With it, "load more" fetches ?fragment=items and appends the
 * entries; a filter change fetches the first filtered page and replaces the entries.
 * Listeners are delegated from the document, so panels added later (or replaced by a
 * filter) need no set-up; the guard keeps a second copy of the script inert.
 *
 * A filter change also rewrites the page's own address (history.replaceState) so the
 * filtered view can be bookmarked or sent: the server reads the same parameters, on
 * the entity page (through the panel tag) as on the panel and user pages.
 */
(function () {
  "use strict";
  if (window.__activityPanel) return;
  window.__activityPanel = true;
  document.documentElement.classList.add("act-js");

  function parse(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function fetchFragment(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest", Accept: "text/html" },
    }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    }).then(parse);
  }

  function withItems(url) {
    var parsed = new URL(url, window.location.href);
    parsed.searchParams.set("fragment", "items");
    return parsed.toString();
  }

  function announce(scope, text) {
    var live = scope.querySelector(".act-live");
    if (!live) {
      live = document.createElement("p");
      live.className = "act-sr act-live";
      live.setAttribute("aria-live", "polite");
      scope.appendChild(live);
    }
    live.textContent = text;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-activity-more]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var scope = link.closest("[data-activity-scope]");
    var list = scope && scope.querySelector("[data-activity-list]");
    if (!list) return;
    event.preventDefault();
    if (link.getAttribute("aria-busy") === "true") return;
    var label = link.textContent;
    link.setAttribute("aria-busy", "true");
    link.textContent = "Loading…";
    fetchFragment(link.dataset.fragment || withItems(link.href)).then(function (fragment) {
      var items = fragment.querySelectorAll("[data-activity-list] > li");
      items.forEach(function (item) { list.appendChild(item); });
      var wrap = link.closest("[data-activity-more-wrap]");
      var next = fragment.querySelector("[data-activity-more-wrap]") || fragment.querySelector(".act-end");
      if (next) wrap.replaceWith(next); else wrap.remove();
      announce(scope, items.length + " more entries loaded");
    }).catch(function () {
      link.removeAttribute("aria-busy");
      link.textContent = "Could not load. " + label;
    }).finally(function () {
      link.removeAttribute("aria-busy");
    });
  });

  var generation = 0;
  var FILTER_KEYS = ["type", "user", "since", "until", "before", "limit"];

  function rememberFilters(params) {
    if (!window.history || !window.history.replaceState) return;
    var page = new URL(window.location.href);
    FILTER_KEYS.forEach(function (key) { page.searchParams.delete(key); });
    params.forEach(function (value, key) {
      if (key !== "fragment") page.searchParams.append(key, value);
    });
    window.history.replaceState(window.history.state, "", page.pathname + page.search + page.hash);
  }

  function applyFilters(form) {
    var scope = form.closest("[data-activity-scope]");
    var body = scope && scope.querySelector("[data-activity-body]");
    if (!body) return false;
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (value) params.append(key, value);
    });
    params.set("fragment", "items");
    var url = (form.dataset.fragment || form.action) + "?" + params.toString();
    var mine = ++generation;
    body.setAttribute("aria-busy", "true");
    fetchFragment(url).then(function (fragment) {
      if (mine !== generation) return; // a later change won
      var fresh = fragment.querySelector("[data-activity-body]");
      if (fresh) body.replaceWith(fresh);
      rememberFilters(params);
      var count = fresh ? fresh.querySelectorAll("[data-activity-list] > li").length : 0;
      announce(scope, count ? count + " entries" : "No matching activity");
    }).catch(function () {
      if (mine === generation) form.submit(); // fall back to a full page load
    });
    return true;
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-activity-filter]");
    if (form) applyFilters(form);
  });

  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("form[data-activity-filter]");
    if (form && applyFilters(form)) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var clear = event.target.closest && event.target.closest("a[data-activity-clear]");
    if (!clear) return;
    var scope = clear.closest("[data-activity-scope]");
    var form = scope && scope.querySelector("form[data-activity-filter]");
    if (!form) return;
    event.preventDefault();
    form.querySelectorAll("select, input").forEach(function (field) { field.value = ""; });
    applyFilters(form);
  });
})();
