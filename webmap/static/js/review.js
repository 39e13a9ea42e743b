/* The review queue, worked by keyboard: J/K move, C confirm, D dismiss (1–4 pick a reason,
 * Enter submits), M merge into an item, A assign to a street, O open on the battle map. */
(function () {
  "use strict";
  var WJ = window.WJ;
  var cfg = JSON.parse(document.getElementById("review-config").textContent);
  var t = cfg.text;
  var state = {rows: [], index: -1, mode: "browse", done: 0, busy: false};
  var tbody = document.querySelector("#queue tbody");
  var klassNames = {};
  cfg.klass.forEach(function (k) { klassNames[k[0]] = k[1]; });
  var streetNames = {};
  cfg.streets.forEach(function (s) { streetNames[s.id] = s.name; });

  var map = L.map("review-map", {zoomControl: true, maxZoom: 21});
  map.setView([31.22, 121.40], 13);
  L.control.scale().addTo(map);
  if (cfg.imagery) { L.tileLayer("/tiles/latest/{z}/{x}/{y}.png", {maxZoom: 22, maxNativeZoom: 21}).addTo(map); }
  L.vectorGrid.protobuf(cfg.violationTiles, {
    rendererFactory: L.canvas.tile, maxNativeZoom: 20,
    vectorTileLayerStyles: {violations: function (p) {
      return {fill: true, fillColor: "#dc2626", fillOpacity: p.cell ? 0.3 : 0.35, color: "#dc2626", weight: 1};
    }}
  }).addTo(map);
  var shape = null;

  function message(text, cls) {
    var el = document.getElementById("review-message");
    el.textContent = text || "";
    el.className = cls || "";
  }

  function progress() {
    var pending = state.rows.filter(function (r) { return r.review_status === "pending"; }).length;
    document.getElementById("progress").textContent = "(" + t.done + " " + state.done + " · " + t.of + " " + pending + ")";
  }

  function render() {
    tbody.innerHTML = "";
    state.rows.forEach(function (r, i) {
      var tr = document.createElement("tr");
      tr.dataset.id = r.id;
      tr.className = (i === state.index ? "current " : "") + (r.review_status !== "pending" ? "done" : "");
      tr.innerHTML = "<td>" + r.id + "</td><td>" + WJ.escape(klassNames[r.klass] || r.klass) + "</td><td>" + r.score.toFixed(3) + "</td><td>" +
        r.area_m2.toFixed(1) + "</td><td>" + WJ.escape(streetNames[r.street_id] || "") + "</td><td class='rs' data-status='" + WJ.escape(r.review_status) + "'>" +
        WJ.escape(t["rs_" + r.review_status] || r.review_status) + "</td>";
      tr.addEventListener("click", function () { select(i); });
      tbody.appendChild(tr);
    });
    progress();
  }

  function select(i) {
    if (!state.rows.length) { document.getElementById("det-title").innerHTML = "<b>" + WJ.escape(t.none) + "</b>"; return; }
    state.index = Math.max(0, Math.min(state.rows.length - 1, i));
    setMode("browse");
    Array.prototype.forEach.call(tbody.children, function (tr, j) { tr.classList.toggle("current", j === state.index); });
    var cur = tbody.children[state.index];
    if (cur) { cur.scrollIntoView({block: "nearest"}); }
    var r = state.rows[state.index];
    document.getElementById("det-title").innerHTML = "<b>#" + r.id + "</b> " + WJ.escape(klassNames[r.klass] || r.klass) + " · " + WJ.escape(t[r.change] || r.change) +
      " · " + r.score.toFixed(3) + " · " + r.area_m2.toFixed(1) + " m² · " + WJ.escape(r.after_captured_at.slice(0, 10)) +
      (r.violation_id ? " · <a href='" + cfg.itemUrl + r.violation_id + "'>" + WJ.escape(t.item) + " " + r.violation_id + "</a>" : "");
    var chips = document.getElementById("chips");
    chips.innerHTML = "";
    [["before", r.chip_before, r.before_captured_at], ["after", r.chip_after, r.after_captured_at]].forEach(function (c) {
      if (!c[1]) { return; }
      var fig = document.createElement("figure");
      fig.innerHTML = "<img alt='" + c[0] + "' src='" + c[1] + "'><figcaption>" + WJ.escape(t[c[0]]) + " " + WJ.escape(c[2].slice(0, 10)) + "</figcaption>";
      chips.appendChild(fig);
    });
    if (shape) { map.removeLayer(shape); shape = null; }
    WJ.api("GET", cfg.detectionsUrl + "/" + r.id).then(function (d) {
      if (state.rows[state.index] !== r || !d.geometry) { return; }
      shape = L.geoJSON(d.geometry, {style: {color: "#ec4899", weight: 3, fillOpacity: 0.15}}).addTo(map);
      map.fitBounds(shape.getBounds(), {maxZoom: 19, padding: [40, 40]});
    });
  }

  function next() {
    for (var j = state.index + 1; j < state.rows.length; j++) {
      if (state.rows[j].review_status === "pending") { select(j); return; }
    }
    select(Math.min(state.index + 1, state.rows.length - 1));
  }

  function setMode(mode) {
    state.mode = mode;
    ["dismiss", "merge", "assign"].forEach(function (m) { document.getElementById(m + "-panel").hidden = m !== mode; });
    var focus = {dismiss: "dismiss-reason", merge: "merge-code", assign: "assign-street"}[mode];
    if (focus) { var el = document.getElementById(focus); if (el.tagName === "INPUT") { el.value = ""; } el.focus(); }
    else if (document.activeElement && document.activeElement !== document.body) { document.activeElement.blur(); }
  }

  function act(action, payload) {
    var r = state.rows[state.index];
    if (!r || state.busy) { return; }
    if (r.review_status !== "pending" && action !== "assign") { next(); return; }
    state.busy = true;
    WJ.api("POST", cfg.detectionsUrl + "/" + r.id + "/review", Object.assign({action: action}, payload || {})).then(function (res) {
      r.review_status = res.detection.review_status;
      r.street_id = res.detection.street_id;
      if (action !== "assign") { state.done += 1; }
      var label = {confirm: t.confirmed, dismiss: t.dismissed, merge: t.merged, assign: t.assigned}[action];
      message("#" + r.id + " " + label + (res.violation ? " → " + res.violation.code : ""), "ok");
      render();
      if (action === "assign") { select(state.index); } else { next(); }
    }).catch(function (err) {
      message(err.message, "error");
      setMode("browse");
    }).then(function () { state.busy = false; });
  }

  function load() {
    var q = new URLSearchParams({status: "pending", limit: "500"});
    var k = document.getElementById("q-klass").value, s = document.getElementById("q-street").value, m = document.getElementById("q-min").value;
    if (k) { q.set("klass", k); }
    if (s) { q.set("street", s); }
    if (m) { q.set("min_score", m); }
    return WJ.api("GET", cfg.detectionsUrl + "?" + q.toString()).then(function (data) {
      state.rows = data.detections;
      render();
      var at = 0;
      if (cfg.focus) { state.rows.forEach(function (r, i) { if (r.id === cfg.focus) { at = i; } }); cfg.focus = null; }
      select(at);
      document.body.dataset.queueLoaded = "1";
    });
  }
  if (cfg.street) { document.getElementById("q-street").value = String(cfg.street); }
  ["q-klass", "q-street", "q-min"].forEach(function (id) { document.getElementById(id).addEventListener("change", load); });

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    var key = e.key;
    if (state.mode !== "browse") {
      if (key === "Escape") { e.preventDefault(); setMode("browse"); return; }
      if (state.mode === "dismiss") {
        var input = document.getElementById("dismiss-reason");
        if (/^[1-9]$/.test(key) && input.value === "" && cfg.reasons[+key - 1]) { e.preventDefault(); input.value = cfg.reasons[+key - 1]; return; }
        if (key === "Enter") {
          e.preventDefault();
          if (!input.value.trim()) { message(t.need_reason, "error"); return; }
          act("dismiss", {reason: input.value.trim()});
        }
      } else if (state.mode === "merge" && key === "Enter") {
        e.preventDefault();
        var code = document.getElementById("merge-code").value.trim();
        if (!code) { message(t.need_code, "error"); return; }
        act("merge", /^\d+$/.test(code) ? {violation_id: +code} : {violation_code: code});
      } else if (state.mode === "assign" && key === "Enter") {
        e.preventDefault();
        act("assign", {street_id: +document.getElementById("assign-street").value});
      }
      return;
    }
    var tag = (document.activeElement && document.activeElement.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { return; }
    var handled = true;
    switch (key) {
      case "j": case "J": case "ArrowDown": select(state.index + 1); break;
      case "k": case "K": case "ArrowUp": select(state.index - 1); break;
      case "c": case "C": act("confirm", {}); break;
      case "d": case "D": setMode("dismiss"); break;
      case "m": case "M": setMode("merge"); break;
      case "a": case "A": if (cfg.canAssign) { setMode("assign"); } break;
      case "o": case "O":
        var r = state.rows[state.index];
        if (r && r.bbox) { window.location = cfg.mapUrl + "?lat=" + ((r.bbox[1] + r.bbox[3]) / 2) + "&lon=" + ((r.bbox[0] + r.bbox[2]) / 2) + "&z=18"; }
        break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); }
  });

  window.WJ_REVIEW = state;
  load();
})();
