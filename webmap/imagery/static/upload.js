/* The upload page: a small tus 1.0 client (creation + resume) over XMLHttpRequest.
 *
 * Each file: POST /api/uploads (metadata) → Location, remembered in localStorage under the
 * file's fingerprint (name, size, last modified); then PATCH chunks of chunkSize bytes from
 * the server's offset. After an interruption (network, closed tab) choosing the same file
 * again asks HEAD for the offset and continues there. When the last chunk is in, the page
 * polls /api/uploads/<id>/status, then /api/scenes/<id>/status for the detection job.
 */
(function () {
  "use strict";
  var C = window.WJ_UPLOAD, T = C.text, WJ = window.WJ || {};
  var tbody = document.querySelector("#queue tbody");
  var queue = [], busy = false;

  function val(id) { return (document.getElementById(id).value || "").trim(); }

  function capturedIso() {
    var v = val("captured");               // "2025-03-14T10:20" in Beijing time
    return v ? v + (v.length === 16 ? ":00" : "") + "+08:00" : "";
  }

  function b64(s) { return btoa(unescape(encodeURIComponent(s))); }

  function metadata(file) {
    var m = {filename: file.name, sensor: val("sensor"), captured: capturedIso(), pilot: val("pilot"),
             drone: val("drone"), task: val("task"), sortie: val("sortie")};
    return Object.keys(m).filter(function (k) { return m[k]; })
      .map(function (k) { return k + " " + b64(m[k]); }).join(",");
  }

  function fingerprint(file) { return "wj-tus:" + [file.name, file.size, file.lastModified].join(":"); }

  function xhr(method, url, headers, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var r = new XMLHttpRequest();
      r.open(method, url, true);
      r.withCredentials = true;
      r.setRequestHeader("Tus-Resumable", "1.0.0");
      r.setRequestHeader("X-CSRFToken", WJ.csrf || "");
      Object.keys(headers).forEach(function (k) { r.setRequestHeader(k, headers[k]); });
      if (onProgress && r.upload) { r.upload.onprogress = function (e) { onProgress(e.loaded); }; }
      r.onload = function () { resolve(r); };
      r.onerror = function () { reject(new Error("network")); };
      r.onabort = function () { reject(new Error("abort")); };
      r.send(body === undefined ? null : body);
    });
  }

  function errorText(r) {
    try { return JSON.parse(r.responseText).message || r.statusText; } catch (e) { return r.status + " " + r.statusText; }
  }

  function row(file) {
    var tr = document.createElement("tr");
    tr.className = "upload-row";
    tr.innerHTML = '<td class="name"></td><td><progress max="100" value="0"></progress> <span class="pct">0%</span>' +
      ' <span class="up-state"></span></td><td class="proc"></td>';
    tr.querySelector(".name").textContent = file.name;
    tr.dataset.name = file.name;
    tbody.appendChild(tr);
    return tr;
  }

  function show(tr, sent, size, state) {
    var pct = size ? Math.floor(sent * 100 / size) : 100;
    tr.querySelector("progress").value = pct;
    tr.querySelector(".pct").textContent = pct + "%";
    if (state) { tr.querySelector(".up-state").textContent = state; }
  }

  function proc(tr, html, cls) {
    var td = tr.querySelector(".proc");
    td.innerHTML = html;
    td.className = "proc " + (cls || "");
  }

  function createUpload(file) {
    return xhr("POST", C.endpoint, {"Upload-Length": String(file.size), "Upload-Metadata": metadata(file)})
      .then(function (r) {
        if (r.status !== 201) { throw new Error(errorText(r)); }
        var url = r.getResponseHeader("Location");
        localStorage.setItem(fingerprint(file), url);
        return {url: url, offset: 0};
      });
  }

  function resumeOrCreate(file, tr) {
    var url = localStorage.getItem(fingerprint(file));
    if (!url) { return createUpload(file); }
    return xhr("HEAD", url, {}).then(function (r) {
      if (r.status !== 200) { localStorage.removeItem(fingerprint(file)); return createUpload(file); }
      var offset = parseInt(r.getResponseHeader("Upload-Offset"), 10) || 0;
      if (offset > 0) { show(tr, offset, file.size, T.resumed); tr.dataset.resumedFrom = String(offset); }
      return {url: url, offset: offset};
    });
  }

  function sendChunks(file, tr, up, retries) {
    if (up.offset >= file.size) { return Promise.resolve(up); }
    var end = Math.min(up.offset + C.chunkSize, file.size);
    show(tr, up.offset, file.size, T.uploading);
    return xhr("PATCH", up.url, {"Content-Type": "application/offset+octet-stream", "Upload-Offset": String(up.offset)},
               file.slice(up.offset, end), function (loaded) { show(tr, up.offset + loaded, file.size); })
      .then(function (r) {
        if (r.status === 204) {
          up.offset = parseInt(r.getResponseHeader("Upload-Offset"), 10);
          return sendChunks(file, tr, up, 0);
        }
        if (r.status === 409) {   // our idea of the offset is stale: ask the server
          return xhr("HEAD", up.url, {}).then(function (h) {
            up.offset = parseInt(h.getResponseHeader("Upload-Offset"), 10) || 0;
            return sendChunks(file, tr, up, retries + 1);
          });
        }
        throw new Error(errorText(r));
      }, function (err) {
        if (retries >= 5) { throw err; }
        show(tr, up.offset, file.size, T.retry);
        return new Promise(function (res) { setTimeout(res, 1000 * (retries + 1)); }).then(function () {
          return xhr("HEAD", up.url, {}).then(function (h) {
            up.offset = parseInt(h.getResponseHeader("Upload-Offset"), 10) || up.offset;
            return sendChunks(file, tr, up, retries + 1);
          }, function () { return sendChunks(file, tr, up, retries + 1); });
        });
      });
  }

  function pollScene(tr, statusUrl, sceneUrl) {
    WJ.api("GET", statusUrl).then(function (s) {
      var label = T[s.state] || s.state;
      var pct = Math.round((s.progress || 0) * 100);
      proc(tr, '<a class="scene-link" href="' + sceneUrl + '">' + WJ.escape(T.scene + " #" + s.scene_id) + "</a> · " +
        '<span class="job-state" data-state="' + WJ.escape(s.state) + '">' + WJ.escape(label) + "</span> " +
        '<progress class="job" max="100" value="' + pct + '"></progress> ' + pct + "%" +
        (s.state === "done" ? " · " + WJ.escape(T.detections + " " + s.detections) : ""), "state-" + s.state);
      if (s.state !== "done" && s.state !== "failed") { setTimeout(function () { pollScene(tr, statusUrl, sceneUrl); }, 1500); }
    }).catch(function () { setTimeout(function () { pollScene(tr, statusUrl, sceneUrl); }, 3000); });
  }

  function pollUpload(tr, url) {
    WJ.api("GET", url + "/status").then(function (u) {
      if (u.state === "stored") {
        proc(tr, WJ.escape(T.stored), "state-stored");
        pollScene(tr, u.status_url, u.scene_url);
      } else if (u.state === "refused" || u.state === "failed") {
        proc(tr, '<span class="error">' + WJ.escape((T[u.state]) + "：" + (u.error ? u.error.message : "")) + "</span>",
             "state-" + u.state);
      } else {
        proc(tr, WJ.escape(T.processing) + " …", "state-processing");
        setTimeout(function () { pollUpload(tr, url); }, 1000);
      }
    }).catch(function () { setTimeout(function () { pollUpload(tr, url); }, 2000); });
  }

  function uploadOne(item) {
    var file = item.file, tr = item.tr;
    return resumeOrCreate(file, tr)
      .then(function (up) { return sendChunks(file, tr, up, 0); })
      .then(function (up) {
        show(tr, file.size, file.size, T.uploaded);
        localStorage.removeItem(fingerprint(file));
        pollUpload(tr, up.url);
      })
      .catch(function (err) {
        proc(tr, '<span class="error">' + WJ.escape(T.refused + "：" + err.message) + "</span>", "state-refused");
      });
  }

  function pump() {
    if (busy || !queue.length) { return; }
    busy = true;
    uploadOne(queue.shift()).then(function () { busy = false; pump(); });
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (f) {
      var tr = row(f);
      show(tr, 0, f.size, T.waiting);
      queue.push({file: f, tr: tr});
    });
    pump();
  }

  var drop = document.getElementById("drop");
  ["dragenter", "dragover"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (ev) {
    drop.addEventListener(ev, function (e) { e.preventDefault(); drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) { add(e.dataTransfer.files); });
  document.getElementById("files").addEventListener("change", function (e) { add(e.target.files); e.target.value = ""; });
  window.WJ_UPLOAD.add = add;
})();
