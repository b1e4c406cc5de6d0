// Collector console: polling JSON, no page reloads. Debtor text is only ever set with
// textContent, so nothing a debtor sends can run as HTML or script here.
(function () {
  "use strict";
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body || {})
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
    });
  }

  function say(el, text, bad) {
    if (!el) return;
    el.textContent = text;
    el.className = "status" + (bad ? " flash error" : "");
  }

  // times arrive as ISO 8601 UTC; a collector reads them in their own time zone
  function localTime(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return iso || "";
    return d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
  }
  Array.prototype.forEach.call(document.querySelectorAll("time.localtime"), function (el) {
    var iso = el.getAttribute("datetime");
    if (iso && iso !== "None") { el.title = iso; el.textContent = localTime(iso); }
  });

  // as console/labels.py wait_label: "just now", "4 min", "2 h 5 min", "3 d 4 h"
  function waitLabel(seconds) {
    var total = Math.max(0, Math.floor(Number(seconds) || 0));
    var minutes = Math.floor(total / 60) % 60, hours = Math.floor(total / 3600) % 24, days = Math.floor(total / 86400);
    if (days) { return hours ? days + " d " + hours + " h" : days + " d"; }
    if (hours) { return minutes ? hours + " h " + minutes + " min" : hours + " h"; }
    return minutes ? minutes + " min" : "just now";
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  // -- queue page ---------------------------------------------------------------------------
  var queue = document.getElementById("queue");
  if (queue) {
    var refresh = function () {
      fetch(queue.dataset.poll, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
        var body = queue.querySelector("tbody");
        body.textContent = "";
        if (!data.waiting.length) {
          var tr = document.createElement("tr");
          tr.className = "empty";
          var td = cell(tr, "Nothing is waiting.");
          td.colSpan = 8;
          body.appendChild(tr);
        }
        data.waiting.forEach(function (t) {
          var tr = document.createElement("tr");
          tr.className = "prio-" + t.priority;
          tr.dataset.ticket = t.id;
          cell(tr, String(t.id));
          cell(tr, String(t.priority));
          var badge = document.createElement("span");
          badge.className = "badge " + t.reason;
          badge.textContent = t.reason_label;
          cell(tr, "").appendChild(badge);
          cell(tr, t.channel_label || t.channel);
          cell(tr, t.account_id || "unknown");
          cell(tr, (t.summary && t.summary.verification) || "");
          var wait = cell(tr, waitLabel(t.wait_seconds));
          wait.className = "wait";
          wait.dataset.seconds = t.wait_seconds;
          var a = document.createElement("a");
          a.href = "/tickets/" + encodeURIComponent(t.id);
          a.textContent = "Open";
          cell(tr, "").appendChild(a);
          body.appendChild(tr);
        });
      }).catch(function () {});
    };
    setInterval(refresh, 3000);
  }

  var takeover = document.getElementById("takeover");
  if (takeover) {
    takeover.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = takeover.querySelector(".status");
      post(takeover.dataset.url, { conversation_id: takeover.elements.conversation_id.value }).then(function (res) {
        if (res.ok) { window.location.href = "/tickets/" + encodeURIComponent(res.data.ticket); }
        else { say(status, res.data.message || "Could not take it over.", true); }
      });
    });
  }

  // -- ticket page --------------------------------------------------------------------------
  var ticket = document.getElementById("ticket");
  if (!ticket) return;
  var transcript = document.getElementById("transcript");
  var shown = 0;
  var me = ticket.dataset.me;

  function addMessage(m) {
    var div = document.createElement("div");
    div.className = "msg " + (m.from || "system");
    var meta = document.createElement("span");
    meta.className = "meta";
    var who = m.from === "collector" ? (m.by || "collector") : m.from;
    meta.textContent = who + " · " + localTime(m.at);
    meta.title = m.at || "";
    var text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    div.appendChild(meta);
    div.appendChild(text);
    transcript.appendChild(div);
  }

  try {
    JSON.parse(document.getElementById("earlier").textContent || "[]").forEach(addMessage);
  } catch (e) { /* no earlier messages */ }

  function setState(t) {
    document.getElementById("status").textContent = t.status;
    var mine = t.status === "claimed" && t.claimed_by === me;
    document.getElementById("claim").disabled = t.status !== "queued";
    document.querySelector("#reply textarea").disabled = !mine;
    document.getElementById("send").disabled = !mine;
  }

  var first = true;
  function poll() {
    fetch(ticket.dataset.api + "?since=" + shown, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      var atBottom = transcript.scrollTop + transcript.clientHeight >= transcript.scrollHeight - 10;
      data.messages.forEach(addMessage);
      shown = data.next;
      // the newest message is in view on arrival, and whenever the collector had not scrolled up
      if (first || (data.messages.length && atBottom)) transcript.scrollTop = transcript.scrollHeight;
      first = false;
      setState(data.ticket);
    }).catch(function () {});
  }
  poll();
  setInterval(poll, 1500);

  document.getElementById("claim").addEventListener("click", function () {
    var status = document.getElementById("claim-status");
    post(ticket.dataset.claim).then(function (res) {
      say(status, res.ok ? "You have this conversation." : (res.data.message || "Could not claim it."), !res.ok);
      poll();
    });
  });

  document.getElementById("reply").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = this.elements.text;
    var status = document.getElementById("reply-status");
    say(status, "Sending…");
    post(ticket.dataset.reply, { text: box.value }).then(function (res) {
      if (res.ok) { box.value = ""; say(status, res.data.detail || "Sent."); poll(); }
      else { say(status, res.data.detail || res.data.message || "Not sent.", true); }
    });
  });

  document.getElementById("resolve").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var status = document.getElementById("resolve-status");
    post(ticket.dataset.resolve, { outcome: this.elements.outcome.value, notes: this.elements.notes.value }).then(function (res) {
      say(status, res.ok ? "Resolved." : (res.data.message || "Not resolved."), !res.ok);
      poll();
    });
  });

  document.getElementById("handback").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var status = document.getElementById("handback-status");
    var slots = {};
    ["identity_verified", "vulnerable"].forEach(function (name) {
      var box = ev.target.elements[name];
      if (box && box.checked) slots[name] = true;
    });
    post(ticket.dataset.handback, { slots: slots, notes: this.elements.notes.value }).then(function (res) {
      say(status, res.ok ? "The bot has the conversation again." : (res.data.message || "Not handed back."), !res.ok);
      poll();
    });
  });
})();
