/* Shared helpers: JSON requests carrying the CSRF token. */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var WJ = window.WJ = window.WJ || {};
  WJ.csrf = meta ? meta.content : "";
  WJ.api = function (method, url, body) {
    var opts = {method: method, credentials: "same-origin",
                headers: {"Accept": "application/json", "X-CSRFToken": WJ.csrf}};
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var err = new Error(data.message || (r.status + " " + r.statusText));
          err.status = r.status; err.data = data; throw err;
        }
        return data;
      });
    });
  };
  WJ.escape = function (s) {
    return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  };
})();
