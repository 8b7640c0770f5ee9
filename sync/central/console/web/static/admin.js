// The dashboard's charts, drawn with Chart.js (web/dist/vendor, from npm)
// from the JSON the page embeds. Progressive: without this script or
// without Chart.js the page shows the same numbers as tables.
(function () {
  "use strict";
  function draw() {
    var data = document.getElementById("dash-data");
    if (!data || typeof window.Chart === "undefined") {
      return;
    }
    var charts;
    try {
      charts = JSON.parse(data.textContent);
    } catch (e) {
      return;
    }
    // Colour-blind-safe palette (Okabe-Ito), one colour per dataset.
    var palette = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
    (charts || []).forEach(function (c) {
      var canvas = document.getElementById("chart-" + c.id);
      if (!canvas) {
        return;
      }
      var kind = c.kind === "stacked" || c.kind === "hbar" ? "bar" : c.kind;
      var datasets = (c.series || []).map(function (s, i) {
        var colour = palette[i % palette.length];
        return {
          label: s.label, backgroundColor: colour, borderColor: colour,
          // A point with nothing measured is a gap, not a zero.
          data: (s.data || []).map(function (v, i) { return s.missing && s.missing[i] ? null : v; }),
          fill: false, tension: 0.2, pointRadius: 2
        };
      });
      var stacked = c.kind === "stacked";
      new window.Chart(canvas, {
        type: kind,
        data: { labels: c.labels || [], datasets: datasets },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          animation: false,
          indexAxis: c.kind === "hbar" ? "y" : "x",
          scales: {
            x: { stacked: stacked, beginAtZero: true },
            // Long category labels (reason codes in words) are cut; the
            // table below has them whole.
            y: {
              stacked: stacked, beginAtZero: true, max: c.unit === "%" ? 100 : undefined,
              ticks: c.kind === "hbar" ? { callback: function (v) { var l = String(this.getLabelForValue(v)); return l.length > 28 ? l.slice(0, 27) + "…" : l; } } : {}
            }
          },
          plugins: { legend: { display: datasets.length > 1 } }
        }
      });
      // The chart is drawn: its table stays one click away.
      var section = canvas.closest("section");
      var details = section && section.querySelector("details");
      if (details) {
        details.open = false;
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();

// The privacy page: while an erasure is under way (an element marked
// data-erasure-pending), read the page again every few seconds and put
// its erasure parts in place (the status is a live region), until none is
// under way. Without this script the page has a link to do the same.
(function () {
  "use strict";
  var parts = ["erasure-status", "erasures-live"];
  function poll() {
    if (!document.querySelector("[data-erasure-pending]")) {
      return;
    }
    setTimeout(function () {
      // Marked as the script's, not the user's: it does not keep the
      // session alive; sent to the sign-in page (signed out), it stops.
      fetch(location.href, { credentials: "same-origin", headers: { "X-Console-Poll": "1" } })
        .then(function (r) { return r.ok && !r.redirected ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var next = new DOMParser().parseFromString(html, "text/html");
          parts.forEach(function (id) {
            var now = document.getElementById(id), fresh = next.getElementById(id);
            if (now && fresh) {
              now.replaceWith(document.importNode(fresh, true));
            }
          });
          poll();
        })
        .catch(function () { /* the link on the page still works */ });
    }, 3000);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", poll);
  } else {
    poll();
  }
})();
