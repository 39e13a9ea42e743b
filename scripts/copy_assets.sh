#!/usr/bin/env bash
# Copy the browser assets installed by npm into the app's own static folder, so that
# no page ever loads a script, style or font from another host.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=webmap/static/vendor
rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
cp -r node_modules/leaflet/dist "$dest.tmp/leaflet"
cp node_modules/leaflet.vectorgrid/dist/Leaflet.VectorGrid.bundled.min.js "$dest.tmp/"
cp node_modules/leaflet.heat/dist/leaflet-heat.js "$dest.tmp/"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
echo "browser assets copied to $dest"
