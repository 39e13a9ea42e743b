/* The battle map (挂图作战): vector-tile layers, layer control, legend, filters, search,
 * heat map, coordinates in the local CRS and the before/after swipe.
 * Everything here is our own code; Leaflet and its plugins come from /static/vendor. */
(function () {
  "use strict";
  var WJ = window.WJ = window.WJ || {};

  /* ---- CGCS2000 / 3-degree Gauss-Kruger CM 120E (EPSG:4549), transverse Mercator ---- */
  var GK = {a: 6378137.0, f: 1 / 298.257222101, lon0: 120.0, k0: 1.0, fe: 500000.0, fn: 0.0};
  WJ.toLocal = function (lon, lat) {
    var d2r = Math.PI / 180, a = GK.a, f = GK.f;
    var e2 = f * (2 - f), e4 = e2 * e2, e6 = e4 * e2, ep2 = e2 / (1 - e2);
    var phi = lat * d2r, sin = Math.sin(phi), cos = Math.cos(phi), tan = Math.tan(phi);
    var N = a / Math.sqrt(1 - e2 * sin * sin), T = tan * tan, C = ep2 * cos * cos;
    var A = (lon - GK.lon0) * d2r * cos;
    var M = a * ((1 - e2 / 4 - 3 * e4 / 64 - 5 * e6 / 256) * phi
      - (3 * e2 / 8 + 3 * e4 / 32 + 45 * e6 / 1024) * Math.sin(2 * phi)
      + (15 * e4 / 256 + 45 * e6 / 1024) * Math.sin(4 * phi)
      - (35 * e6 / 3072) * Math.sin(6 * phi));
    var x = GK.fe + GK.k0 * N * (A + (1 - T + C) * Math.pow(A, 3) / 6
      + (5 - 18 * T + T * T + 72 * C - 58 * ep2) * Math.pow(A, 5) / 120);
    var y = GK.fn + GK.k0 * (M + N * tan * (A * A / 2 + (5 - T + 9 * C + 4 * C * C) * Math.pow(A, 4) / 24
      + (61 - 58 * T + T * T + 600 * C - 330 * ep2) * Math.pow(A, 6) / 720));
    return {x: x, y: y};
  };

  function cellOpacity(n) { return Math.min(0.85, 0.25 + 0.12 * Math.log2(n + 1)); }

  function makeStyles(opts) {
    var colours = opts.colours;
    function violation(p) {
      var c = colours[p.status] || "#444";
      if (p.cell) { return {fill: true, fillColor: c, fillOpacity: cellOpacity(p.n), stroke: false, weight: 0}; }
      return {fill: true, fillColor: c, fillOpacity: 0.55, color: c, weight: p.is_key ? 2.5 : 1.2, opacity: 1};
    }
    return {
      boundaries: function (p) {
        var street = p.level === "street";
        return {fill: false, color: street ? "#1f2937" : "#6b7280", weight: street ? 2.2 : 0.8,
                dashArray: street ? null : "4 3", opacity: 0.9};
      },
      parcels: function (p) {
        if (p.cell) { return {fill: true, fillColor: "#94a3b8", fillOpacity: cellOpacity(p.n) * 0.25, stroke: false}; }
        return {fill: true, fillColor: "#e5e7eb", fillOpacity: 0.15, color: "#94a3b8", weight: 0.6};
      },
      violations: violation,
      detections: function (p) {
        if (p.cell) { return {fill: true, fillColor: "#ec4899", fillOpacity: cellOpacity(p.n), stroke: false}; }
        return {fill: true, fillColor: "#ec4899", fillOpacity: 0.25, color: "#db2777", weight: 2, dashArray: "5 3"};
      },
      sorties: function () { return {fill: true, fillColor: "#0ea5e9", fillOpacity: 0.06, color: "#0284c7", weight: 1.2, dashArray: "2 4"}; }
    };
  }

  function vectorLayer(map, opts, layer, styles, pane) {
    var style = {};
    style[layer] = styles[layer];
    var vg = L.vectorGrid.protobuf(opts.tiles[layer], {
      rendererFactory: L.canvas.tile,
      vectorTileLayerStyles: style,
      interactive: true,
      maxNativeZoom: 20,
      pane: pane,
      getFeatureId: function (f) { return f.properties.id; }
    });
    vg.wjLayer = layer;
    vg.wjLoads = 0;
    vg.on("load", function () { vg.wjLoads += 1; });
    vg.wjBaseUrl = opts.tiles[layer];
    vg.on("click", function (e) { showPopup(map, opts, layer, e); });
    return vg;
  }

  function showPopup(map, opts, layer, e) {
    var p = e.layer.properties || {}, t = opts.text, esc = WJ.escape, html;
    if (p.cell) {
      html = "<b>" + esc(t["layers_" + layer]) + "</b><br>" + esc(t.count) + ": " + esc(p.n);
    } else if (layer === "violations") {
      html = "<b>" + esc(p.code) + "</b> <span class='badge' style='background:" + esc(opts.colours[p.status]) + "'>" +
        esc(opts.statusLabels[p.status]) + "</span><br>" + esc(opts.typeLabels[p.vtype] || p.vtype) + " · " +
        esc(p.area_m2) + " m² · " + esc(p.month) + "<br><a href='" + opts.itemUrl + encodeURIComponent(p.id) +
        "'>" + esc(t.open_item) + "</a>";
    } else if (layer === "detections") {
      html = "<b>#" + esc(p.id) + "</b> " + esc(opts.klassLabels[p.klass] || p.klass) + "<br>" + esc(t.score) + " " + esc(p.score) + " · " +
        esc(p.area_m2) + " m²" + (opts.canReview ? "<br><a href='" + opts.reviewUrl + "?d=" + encodeURIComponent(p.id) + "'>" + esc(t.review) + "</a>" : "");
    } else if (layer === "parcels") {
      html = "<b>" + esc(p.code) + "</b><br>" + esc(p.address || "") + "<br>" + esc(p.land_use || "") + " · " + esc(p.area_m2) + " m²";
    } else if (layer === "sorties") {
      html = "<b>" + esc(p.code) + "</b><br>" + esc(p.pilot) + " · " + esc(p.drone || "") + " · " + esc(p.day);
    } else {
      html = "<b>" + esc(p.name) + "</b>";
    }
    L.popup().setLatLng(e.latlng).setContent(html).openOn(map);
  }

  function legend(map, opts) {
    var ctl = L.control({position: "bottomright"});
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "wj-legend");
      div.id = "legend";
      var rows = ["<b>" + WJ.escape(opts.text.legend) + "</b>"];
      opts.legend.forEach(function (row) {
        rows.push("<div data-status='" + row[0] + "'><span class='swatch' style='background:" + row[1] + "'></span>" + WJ.escape(row[2]) + "</div>");
      });
      rows.push("<div><span class='swatch' style='background:#ec4899'></span>" + WJ.escape(opts.text.layers_detections) + "</div>");
      rows.push("<div class='hint'>" + WJ.escape(opts.text.cells) + "</div>");
      div.innerHTML = rows.join("");
      return div;
    };
    ctl.addTo(map);
  }

  function coordinates(map, opts) {
    var ctl = L.control({position: "bottomleft"});
    ctl.onAdd = function () {
      var div = L.DomUtil.create("div", "wj-coords");
      div.id = "coords";
      div.textContent = "—";
      return div;
    };
    ctl.addTo(map);
    function show(ll) {
      var gk = WJ.toLocal(ll.lng, ll.lat);
      ctl.getContainer().textContent = "WGS84 " + ll.lat.toFixed(6) + ", " + ll.lng.toFixed(6) +
        " | " + opts.text.local_crs + " (EPSG:4549) X=" + gk.y.toFixed(2) + " Y=" + gk.x.toFixed(2);
    }
    map.on("mousemove", function (e) { show(e.latlng); });
    show(map.getCenter());
  }

  function filterQuery() {
    var q = new URLSearchParams();
    function val(id) { var el = document.getElementById(id); return el ? el.value : ""; }
    if (val("f-type")) { q.set("type", val("f-type")); }
    if (val("f-street")) { q.set("street", val("f-street")); }
    if (val("f-key")) { q.set("key", val("f-key")); }
    if (val("f-indb")) { q.set("indb", val("f-indb")); }
    if (val("f-month")) { q.set("month", val("f-month")); }
    var box = document.getElementById("f-status");
    if (box) {
      var all = box.querySelectorAll("input"), on = [];
      all.forEach(function (i) { if (i.checked) { on.push(i.value); } });
      if (on.length !== all.length) { q.set("status", on.length ? on.join(",") : "none"); }
    }
    return q.toString();
  }

  function wireFilters(state) {
    var ids = ["f-type", "f-street", "f-key", "f-indb", "f-month"];
    function apply() {
      var qs = filterQuery().replace("status=none", "status=__none__");
      var vg = state.layers.violations;
      if (qs.indexOf("__none__") >= 0) { state.map.removeLayer(vg); return; }
      if (!state.map.hasLayer(vg)) { vg.addTo(state.map); }
      vg.setUrl(vg.wjBaseUrl + (qs ? "?" + qs : ""));
      var st = document.getElementById("f-street");
      var dg = state.layers.detections;
      dg.setUrl(dg.wjBaseUrl + (st && st.value ? "?street=" + st.value : ""));
    }
    ids.forEach(function (id) { var el = document.getElementById(id); if (el) { el.addEventListener("change", apply); } });
    var box = document.getElementById("f-status");
    if (box) { box.addEventListener("change", apply); }
    state.applyFilters = apply;
  }

  function wireSearch(state) {
    var input = document.getElementById("search"), list = document.getElementById("search-results");
    if (!input) { return; }
    var highlight = null;
    function go(r) {
      if (highlight) { state.map.removeLayer(highlight); }
      if (r.geometry) {
        highlight = L.geoJSON(r.geometry, {style: {color: "#00e5ff", weight: 4, fill: false}}).addTo(state.map);
        state.map.fitBounds(highlight.getBounds(), {maxZoom: 18});
      }
      if (r.url) {
        L.popup().setLatLng(highlight ? highlight.getBounds().getCenter() : state.map.getCenter())
          .setContent("<b>" + WJ.escape(r.label) + "</b><br><a href='" + r.url + "'>" + WJ.escape(state.opts.text.open_item) + "</a>")
          .openOn(state.map);
      }
    }
    function run() {
      var q = input.value.trim();
      if (!q) { list.innerHTML = ""; return; }
      WJ.api("GET", state.opts.searchUrl + "?q=" + encodeURIComponent(q)).then(function (data) {
        list.innerHTML = "";
        if (!data.results.length) { list.innerHTML = "<li>" + WJ.escape(state.opts.text.no_results) + "</li>"; return; }
        data.results.forEach(function (r) {
          var li = document.createElement("li");
          li.textContent = r.label;
          li.tabIndex = 0;
          li.addEventListener("click", function () { go(r); });
          li.addEventListener("keydown", function (e) { if (e.key === "Enter") { go(r); } });
          list.appendChild(li);
        });
        go(data.results[0]);
      }).catch(function (err) { list.innerHTML = "<li class='error'>" + WJ.escape(err.message) + "</li>"; });
    }
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); run(); } });
  }

  function wireHeat(state) {
    var on = document.getElementById("heat-on"), month = document.getElementById("heat-month");
    var heat = L.heatLayer([], {radius: 22, blur: 18, maxZoom: 16});
    state.layers.heat = heat;
    function load() {
      if (!state.map.hasLayer(heat)) { return; }
      WJ.api("GET", state.opts.heatUrl + "?month=" + encodeURIComponent(month ? month.value : "")).then(function (data) {
        heat.setLatLngs(data.points);
        state.heatCount = data.points.length;
      });
    }
    state.map.on("overlayadd", function (e) { if (e.layer === heat) { if (on) { on.checked = true; } load(); } });
    state.map.on("overlayremove", function (e) { if (e.layer === heat && on) { on.checked = false; } });
    if (on) { on.addEventListener("change", function () { if (on.checked) { heat.addTo(state.map); load(); } else { state.map.removeLayer(heat); } }); }
    if (month) { month.addEventListener("change", load); }
    return heat;
  }

  /* ---- before/after: a swipe divider between two imagery layers, kept in sync on pan/zoom ---- */
  WJ.Swipe = L.Control.extend({
    options: {position: "topleft", ratio: 0.5},
    initialize: function (before, after, options) { this._before = before; this._after = after; L.setOptions(this, options); },
    onAdd: function (map) {
      this._map = map;
      var div = L.DomUtil.create("div", "wj-swipe");
      div.id = "swipe";
      var handle = L.DomUtil.create("div", "wj-swipe-handle", div);
      handle.tabIndex = 0;
      handle.title = "← →";
      this._div = div; this._handle = handle;
      L.DomEvent.disableClickPropagation(div);
      var self = this, dragging = false;
      L.DomEvent.on(handle, "mousedown touchstart", function (e) { dragging = true; map.dragging.disable(); L.DomEvent.stop(e); });
      L.DomEvent.on(document, "mousemove touchmove", function (e) {
        if (!dragging) { return; }
        var pt = (e.touches ? e.touches[0] : e), rect = map.getContainer().getBoundingClientRect();
        self.setRatio((pt.clientX - rect.left) / rect.width);
      });
      L.DomEvent.on(document, "mouseup touchend", function () { if (dragging) { dragging = false; map.dragging.enable(); } });
      L.DomEvent.on(handle, "keydown", function (e) {
        if (e.key === "ArrowLeft") { self.setRatio(self.options.ratio - 0.05); }
        if (e.key === "ArrowRight") { self.setRatio(self.options.ratio + 0.05); }
      });
      map.on("move zoom resize", this._update, this);
      this._before.on("load tileload", this._update, this);
      this._after.on("load tileload", this._update, this);
      setTimeout(function () { self._update(); }, 0);
      return div;
    },
    onRemove: function (map) {
      map.off("move zoom resize", this._update, this);
      [this._before, this._after].forEach(function (l) { var c = l.getContainer(); if (c) { c.style.clip = ""; } });
    },
    setRatio: function (r) { this.options.ratio = Math.max(0, Math.min(1, r)); this._update(); },
    _update: function () {
      var map = this._map;
      if (!map) { return; }
      var size = map.getSize(), nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
      var x = nw.x + size.x * this.options.ratio;
      this._div.style.left = (size.x * this.options.ratio) + "px";
      var lc = this._before.getContainer(), rc = this._after.getContainer();
      if (lc) { lc.style.clip = "rect(" + [nw.y, x, se.y, nw.x].join("px,") + "px)"; }
      if (rc) { rc.style.clip = "rect(" + [nw.y, se.x, se.y, x].join("px,") + "px)"; }
    }
  });

  function wireCompare(state) {
    var img = state.opts.imagery;
    if (!img || !img.scenes.length) { return; }
    var btn = document.getElementById("cmp-swipe"), off = document.getElementById("cmp-off");
    var cur = null;
    function stop() {
      if (!cur) { return; }
      state.map.removeControl(cur.ctl); state.map.removeLayer(cur.before); state.map.removeLayer(cur.after); cur = null;
    }
    function start() {
      stop();
      var b = img.scenes[+document.getElementById("cmp-before").value], a = img.scenes[+document.getElementById("cmp-after").value];
      var before = L.tileLayer(b.url, {maxZoom: 22, maxNativeZoom: 21}).addTo(state.map);
      var after = L.tileLayer(a.url, {maxZoom: 22, maxNativeZoom: 21}).addTo(state.map);
      var ctl = new WJ.Swipe(before, after).addTo(state.map);
      cur = {before: before, after: after, ctl: ctl};
      state.swipe = cur;
    }
    if (btn) { btn.addEventListener("click", start); }
    if (off) { off.addEventListener("click", stop); }
  }

  /* Keep several maps on the same view (side-by-side comparison). */
  WJ.syncMaps = function (maps) {
    var busy = false;
    maps.forEach(function (m) {
      m.on("move zoomend", function () {
        if (busy) { return; }
        busy = true;
        maps.forEach(function (o) { if (o !== m) { o.setView(m.getCenter(), m.getZoom(), {animate: false}); } });
        busy = false;
      });
    });
  };

  WJ.battleMap = function (map, opts) {
    var styles = makeStyles(opts);
    map.createPane("wjBoundaries").style.zIndex = 430;
    map.createPane("wjItems").style.zIndex = 420;
    map.createPane("wjParcels").style.zIndex = 410;
    var layers = {
      parcels: vectorLayer(map, opts, "parcels", styles, "wjParcels"),
      violations: vectorLayer(map, opts, "violations", styles, "wjItems"),
      detections: vectorLayer(map, opts, "detections", styles, "wjItems"),
      sorties: vectorLayer(map, opts, "sorties", styles, "wjParcels"),
      boundaries: vectorLayer(map, opts, "boundaries", styles, "wjBoundaries")
    };
    var base = {}, t = opts.text;
    var none = L.tileLayer("", {attribution: ""});
    base[t.layers_none] = none;
    if (opts.imagery) {
      base[t.layers_latest] = L.tileLayer(opts.imagery.latest, {maxZoom: 22, maxNativeZoom: 21, attribution: ""});
    }
    if (opts.basemap) { base[t.layers_basemap] = L.tileLayer(opts.basemap, {maxZoom: 20}); }
    var first = opts.imagery ? base[t.layers_latest] : none;
    first.addTo(map);
    ["parcels", "violations", "detections", "boundaries"].forEach(function (k) { layers[k].addTo(map); });
    var state = {map: map, opts: opts, layers: layers};
    var heat = wireHeat(state);
    var overlays = {};
    overlays[t.layers_boundaries] = layers.boundaries;
    overlays[t.layers_parcels] = layers.parcels;
    overlays[t.layers_violations] = layers.violations;
    overlays[t.layers_detections] = layers.detections;
    overlays[t.layers_sorties] = layers.sorties;
    overlays[t.layers_heat] = heat;
    state.layerControl = L.control.layers(base, overlays, {collapsed: false, position: "topright"}).addTo(map);
    legend(map, opts);
    wireFilters(state);
    wireSearch(state);
    wireCompare(state);
    var params = new URLSearchParams(window.location.search);
    if (params.get("lat") && params.get("lon")) {
      map.setView([+params.get("lat"), +params.get("lon")], +(params.get("z") || 17), {animate: false});
    } else if (opts.bounds) {
      map.fitBounds(opts.bounds, {animate: false});
    }
    coordinates(map, opts);
    window.WJ_MAP = state;
    return state;
  };
})();
