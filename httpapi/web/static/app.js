// Live updates for handoff's page: the event stream of the signed-in user
// (its cookie authenticates the stream). Everything an agent wrote is put
// in the page as text, never as HTML.
(function () {
  "use strict";
  var page = document.body.dataset.page;
  // A sign-in link (printed at first start) carries the token after "#",
  // which never reaches the server's logs: fill the form and send it.
  if (location.hash.indexOf("#token=") === 0) {
    var token = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname);
    if (page === "login") {
      var field = document.getElementById("token");
      field.value = token;
      field.form.submit();
      return;
    }
    // Already signed in: a link for another account switches only if the
    // person says so.
    var current = document.body.dataset.user;
    if (current && subjectOf(token) !== current &&
        window.confirm("This link signs in to another account. Leave the account you are signed in to and switch?")) {
      var form = document.createElement("form");
      form.method = "post";
      form.action = "/login";
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "token";
      input.value = token;
      form.appendChild(input);
      document.body.appendChild(form);
      form.submit();
      return;
    }
  }

  // setUpPush registers the service worker and offers "Notify this
  // device": the browser subscribes with the server's VAPID key, and the
  // page hands the subscription to the server (with its form token).
  function setUpPush() {
    var button = document.getElementById("notify");
    if (!button) return;
    // No Web Push: on an iPhone, that is Safari until the page is added
    // to the Home Screen and opened from there. Say how, rather than
    // offer nothing.
    if (!("PushManager" in window)) {
      var standalone = navigator.standalone === true || window.matchMedia("(display-mode: standalone)").matches;
      var hint = document.getElementById("push-hint");
      if (hint && !standalone) hint.hidden = false;
      return;
    }
    if (!("serviceWorker" in navigator) || !("Notification" in window)) return;
    navigator.serviceWorker.register("/sw.js").then(function (reg) {
      return reg.pushManager.getSubscription();
    }).then(function (sub) {
      button.hidden = false;
      if (sub && Notification.permission === "granted") {
        button.textContent = "Notifications on";
        button.disabled = true;
      }
    }).catch(function () {});
    button.onclick = function () {
      button.disabled = true;
      button.textContent = "Asking…";
      Notification.requestPermission().then(function (perm) {
        if (perm !== "granted") throw new Error("notifications are blocked for this site");
        return Promise.all([navigator.serviceWorker.ready,
          fetch("/api/v1/push/vapid-public-key", { credentials: "same-origin" }).then(function (r) { return r.json(); })]);
      }).then(function (got) {
        return got[0].pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64URL(got[1].public_key) });
      }).then(function (sub) {
        var j = sub.toJSON();
        var csrf = document.querySelector("input[name=csrf]");
        var body = new URLSearchParams({ csrf: csrf ? csrf.value : "", endpoint: j.endpoint, p256dh: j.keys.p256dh,
          auth: j.keys.auth, name: navigator.userAgent.slice(0, 120) });
        return fetch("/devices", { method: "POST", body: body, credentials: "same-origin" });
      }).then(function (r) {
        if (!r.ok) throw new Error("the server refused the subscription (" + r.status + ")");
        button.textContent = "Notifications on";
      }).catch(function (e) {
        button.disabled = false;
        button.textContent = "Notify this device";
        window.alert("Could not turn on notifications: " + e.message);
      });
    };
  }

  // The sessions waiting, kept from the event stream (each event carries
  // its session's status): the tab's title and icon count them.
  var waiting = {};
  (document.body.dataset.waitingIds || "").split(" ").forEach(function (id) { if (id) waiting[id] = true; });
  function countWaiting(ev) {
    if (ev.status === "AWAITING_INPUT") waiting[ev.agent_instance_id] = true;
    else delete waiting[ev.agent_instance_id];
    var n = Object.keys(waiting).length;
    document.title = (n ? "(" + n + ") " : "") + document.body.dataset.title;
    badge(n);
  }

  // badge marks the tab's icon with how many sessions wait (the title
  // says it too, from the server).
  function badge(n) {
    var link = document.querySelector("link[rel=icon]");
    if (!n) {
      if (link) link.href = "/static/favicon-32.png";
      return;
    }
    var img = new Image();
    img.onload = function () {
      var c = document.createElement("canvas");
      c.width = c.height = 32;
      var g = c.getContext("2d");
      g.drawImage(img, 0, 0, 32, 32);
      g.fillStyle = "#dc2626";
      g.beginPath();
      g.arc(22, 10, 10, 0, 2 * Math.PI);
      g.fill();
      g.fillStyle = "#fff";
      g.font = "bold 14px sans-serif";
      g.textAlign = "center";
      g.textBaseline = "middle";
      g.fillText(n > 9 ? "9+" : String(n), 22, 11);
      if (link) link.href = c.toDataURL("image/png");
    };
    img.src = "/static/favicon-32.png";
  }

  function fromBase64URL(s) {
    var b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
    var out = new Uint8Array(b.length);
    for (var i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out;
  }

  // subjectOf reads a token's user (its sub) without trusting it: only to
  // tell whether a link is for the account already signed in.
  function subjectOf(tok) {
    try {
      var part = tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "===".slice((part.length + 3) % 4))).sub || "";
    } catch (e) {
      return "";
    }
  }
  setUpPush();
  badge(Number(document.body.dataset.waiting || "0"));
  if (page !== "list" && page !== "session") return;
  var instance = document.body.dataset.instance;
  var list = document.getElementById("messages");
  var reloading = null;
  // A form on its way to the server (a reply, a decision) is never cut
  // off by a redraw: the reload would cancel its request, and the
  // person's answer could be lost. The page it answers with is the redraw.
  var submitting = false;
  document.addEventListener("submit", function (e) {
    if (e.defaultPrevented) return;
    submitting = true;
    clearTimeout(reloading);
  });

  // A conversation opens at its latest message, the reply box below it.
  // The box sticks to the bottom of the screen: what is scrolled or
  // tabbed to keeps clear of it.
  var reply = document.querySelector("form.reply");
  if (page === "session") {
    var clear = function () {
      if (reply) document.documentElement.style.scrollPaddingBottom = (reply.offsetHeight + 12) + "px";
    };
    clear();
    window.addEventListener("resize", clear);
    var latest = list && list.lastElementChild;
    if (latest && !location.hash) latest.scrollIntoView({ block: "end" });
  }

  // reloadSoon redraws the page, unless the person is typing: then a
  // notice offers the redraw, and nothing typed is wiped.
  function reloadSoon() {
    if (reloading || submitting) return;
    var typing = Array.prototype.some.call(document.querySelectorAll("textarea, input[name=content]"),
      function (f) { return f.value !== ""; });
    if (typing) {
      if (document.getElementById("news")) return;
      var news = document.createElement("button");
      news.id = "news";
      news.type = "button";
      news.className = "news";
      news.textContent = "New activity: show it";
      news.onclick = function () { location.reload(); };
      document.body.appendChild(news);
      return;
    }
    reloading = setTimeout(function () { location.reload(); }, 150);
  }

  function ago() { return "just now"; }

  function append(m) {
    if (list.querySelector('[data-seq="' + m.seq + '"]')) return;
    // Questions, permission requests and decisions come with buttons and
    // state the server renders: redraw.
    // So do agents' messages: the server renders their Markdown.
    if (m.requires_user_input || m.kind || m.sender_type === "AGENT") { reloadSoon(); return; }
    var li = document.createElement("li");
    li.className = "msg " + m.sender_type + (m.requires_user_input ? " question" : "");
    li.dataset.seq = m.seq;
    var who = document.createElement("div");
    who.className = "who";
    who.textContent = (m.sender_type === "AGENT" ? "agent" : "you") + (m.requires_user_input ? " · question" : "") + " · " + ago();
    var text = document.createElement("div");
    text.className = "text";
    text.textContent = m.content;
    li.appendChild(who);
    li.appendChild(text);
    list.appendChild(li);
    list.dataset.afterSeq = m.seq;
    li.scrollIntoView({ block: "end" });
  }

  function fetchNew() {
    var after = list.dataset.afterSeq || "0";
    fetch("/api/v1/agent-instances/" + instance + "/messages?after_seq=" + after + "&limit=200", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (page) { if (page) page.messages.forEach(append); });
  }

  function setStatus(status) {
    var badge = document.getElementById("status");
    if (!badge || badge.textContent === status) return;
    // The reply box reads differently while a question waits: redraw.
    if ((status === "AWAITING_INPUT") !== badge.classList.contains("AWAITING_INPUT")) {
      var box = document.getElementById("content");
      if (!box || box.value === "") { reloadSoon(); return; }
    }
    badge.className = "badge " + status;
    badge.textContent = status.replace("_", " ").toLowerCase();
  }

  // Start where the page was rendered: nothing after it is missed.
  var from = document.body.dataset.eventsFrom || "";
  var es = new EventSource("/api/v1/events" + (from ? "?last_event_id=" + encodeURIComponent(from) : ""));
  function handle(e) {
    var ev = JSON.parse(e.data);
    if (page === "list") { reloadSoon(); return; }
    countWaiting(ev);
    if (ev.agent_instance_id !== instance) return;
    // A change to a message already shown (a request decided or expired).
    if (ev.message_id && list.querySelector('[data-id="' + ev.message_id + '"]')) { reloadSoon(); return; }
    fetchNew();
    setStatus(ev.status);
  }
  ["message", "status", "instance"].forEach(function (k) { es.addEventListener(k, handle); });
  // Leaving the page closes its stream: a page kept in the back/forward
  // cache would hold its connection, and a browser opens only six to one
  // server, so a few pages later every load would wait. Back on the page,
  // it loads again, as things are now.
  window.addEventListener("pagehide", function () { es.close(); });
  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
  // A lost connection is said, not mistaken for a quiet agent; when it is
  // back, the page resyncs (redraws from the server).
  var lost = false;
  es.onerror = function () {
    lost = true;
    var b = document.getElementById("offline");
    if (b) b.hidden = false;
  };
  es.onopen = function () {
    if (!lost) return;
    lost = false;
    var b = document.getElementById("offline");
    if (b) b.hidden = true;
    reloadSoon();
  };
})();
