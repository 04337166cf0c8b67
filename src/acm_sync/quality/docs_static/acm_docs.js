/* acm_sync Data Docs, offline: the few jQuery / bootstrap-table calls GX's pages make, so no
   page loads anything from the internet. Tables render as plain HTML tables. */
(function () {
  "use strict";
  function Wrap(nodes) { this.nodes = nodes; }
  var ready = [];
  function $(arg) {
    if (typeof arg === "function") { ready.push(arg); return new Wrap([]); }
    if (arg === document || arg === window) {
      return { ready: function (fn) { ready.push(fn); }, on: function () {} };
    }
    if (typeof arg === "string") {
      try { return new Wrap(Array.prototype.slice.call(document.querySelectorAll(arg))); }
      catch (e) { return new Wrap([]); }
    }
    return new Wrap(arg ? [arg] : []);
  }
  function resolve(name) { return typeof name === "function" ? name : window[name]; }
  Wrap.prototype.each = function (fn) {
    this.nodes.forEach(function (n, i) { fn.call(n, i, n); }); return this;
  };
  Wrap.prototype.parent = function () {
    return new Wrap(this.nodes.map(function (n) { return n.parentNode; }).filter(Boolean));
  };
  Wrap.prototype.show = Wrap.prototype.fadeIn = function () {
    this.nodes.forEach(function (n) { n.style.display = ""; }); return this;
  };
  Wrap.prototype.hide = Wrap.prototype.fadeOut = function () {
    this.nodes.forEach(function (n) { n.style.display = "none"; }); return this;
  };
  Wrap.prototype.removeClass = function (c) {
    this.nodes.forEach(function (n) { n.classList.remove(c); }); return this;
  };
  Wrap.prototype.modal = function () { return this; };
  Wrap.prototype.on = function () { return this; };
  Wrap.prototype.prepend = function (html) {
    this.nodes.forEach(function (n) { n.insertAdjacentHTML("afterbegin", html); }); return this;
  };
  Wrap.prototype.bootstrapTable = function (opts) {
    if (typeof opts !== "object" || opts === null) { return this; }
    var columns = (opts.columns || []).filter(function (c) { return c.visible !== false; });
    var attrs = opts.rowAttributes ? resolve(opts.rowAttributes) : null;
    this.nodes.forEach(function (table) {
      var head = "<thead><tr>" + columns.map(function (c) {
        return "<th>" + (c.title || "") + "</th>";
      }).join("") + "</tr></thead>";
      var body = (opts.data || []).map(function (row, i) {
        var a = attrs ? attrs(row, i) : {};
        var href = a && a["data-href"];
        var open = href ? '<tr class="clickable-row" data-href="' + href + '">' : "<tr>";
        return open + columns.map(function (c) {
          var v = row[c.field];
          return "<td>" + (v === undefined || v === null ? "" : v) + "</td>";
        }).join("") + "</tr>";
      }).join("");
      table.innerHTML = head + "<tbody>" + body + "</tbody>";
      table.classList.add("acm-table");
      table.querySelectorAll("tr[data-href]").forEach(function (tr) {
        tr.addEventListener("click", function (e) {
          if (e.target.closest("a")) { return; }
          window.location = tr.getAttribute("data-href");
        });
      });
    });
    return this;
  };
  window.$ = window.jQuery = $;
  document.addEventListener("DOMContentLoaded", function () {
    ready.forEach(function (fn) { try { fn($); } catch (e) { console.log(e); } });
  });
})();
