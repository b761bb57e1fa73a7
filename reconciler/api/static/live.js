/* Live updates for the innominatus dashboard (an enhancement: every page works without it).
 * Listens to /api/v1/events (Server-Sent Events). A log event appends its text to the step's
 * log on the execution page; any other event relevant to the page fetches the page again and
 * swaps in the parts marked data-live, so the page changes in place without a reload (focus
 * and form inputs outside those parts are kept). EventSource resumes with Last-Event-ID. */
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var body = document.body;
  var app = body.getAttribute("data-app");
  var execution = body.getAttribute("data-execution");
  var status = document.getElementById("live-status");
  var timer = null;
  var busy = false;
  var again = false;
  var last = 0;
  var GAP = 250; /* ms: at most four page fetches a second, however many events come */

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var parts = document.querySelectorAll("[data-live]");
    for (var i = 0; i < parts.length; i += 1) {
      var part = parts[i];
      var other = part.id ? fresh.getElementById(part.id) : null;
      if (other && other.innerHTML !== part.innerHTML) {
        part.innerHTML = other.innerHTML;
      }
    }
    if (fresh.title) {
      document.title = fresh.title;
    }
    body.setAttribute("data-updated", String(Date.now()));
  }

  function refresh() {
    timer = null;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    last = Date.now();
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) {
          throw new Error("status " + response.status);
        }
        return response.text();
      })
      .then(swap)
      .catch(function () {
        say("update failed; reload the page");
      })
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          schedule();
        }
      });
  }

  function schedule() {
    /* The first event after a quiet spell refreshes at once; a burst, once per GAP. */
    if (timer === null) {
      timer = window.setTimeout(refresh, Math.max(0, last + GAP - Date.now()));
    }
  }

  function relevant(data) {
    if (execution) {
      return String(data.execution) === execution;
    }
    if (app) {
      return data.app === app || (data.apps || []).indexOf(app) >= 0;
    }
    return true;
  }

  function onChange(event) {
    var data = JSON.parse(event.data);
    if (relevant(data)) {
      schedule();
    }
  }

  function onLog(event) {
    var data = JSON.parse(event.data);
    var log = document.getElementById("log-" + data.execution + "-" + data.position);
    if (log) {
      log.appendChild(document.createTextNode(data.text));
      log.scrollTop = log.scrollHeight;
    }
  }

  var source = new EventSource("/api/v1/events");
  ["app", "resource", "execution", "step"].forEach(function (kind) {
    source.addEventListener(kind, onChange);
  });
  source.addEventListener("reset", schedule);
  source.addEventListener("log", onLog);
  source.onopen = function () {
    say("live");
  };
  source.onerror = function () {
    say("reconnecting…");
  };
})();
