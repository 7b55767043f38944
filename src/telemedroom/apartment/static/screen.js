// The patient's screen at home: renders /screen/state.json again on every event of
// WS /screen/events, drives the call to the ward (POST /screen/call) and, during a call,
// shows the ward's video and plays its voice (POST /screen/webrtc, through video.js).
// Every string comes from texts.json; nothing is loaded from anywhere but this server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const asked = new URLSearchParams(location.search).get("lang");
  const model = {
    texts: {}, defaultLanguage: "de", chosen: null, state: null, connected: false, call: "unavailable",
    videoFor: null,  // the call state the video connection was made for
  };

  const language = () => model.chosen || model.defaultLanguage;
  const otherLanguage = () => Object.keys(model.texts).find((l) => l !== language()) || language();
  function t(key, params = {}) {
    const text = (model.texts[language()] || {})[key];
    if (text === undefined) return "";
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  }
  const UNITS = { "mm[Hg]": "mmHg", "Cel": "°C", "kg": "kg", "%": "%", "mg/dL": "mg/dL", "/min": "/min" };
  const unit = (u) => UNITS[u] || u;
  const number = (v) => new Intl.NumberFormat(language(), { maximumFractionDigits: 1 }).format(v);
  const when = (iso) => new Intl.DateTimeFormat(language(), {
    weekday: "short", hour: "2-digit", minute: "2-digit",
  }).format(new Date(iso));

  function announce(text) {
    if (!text) return;
    const line = document.createElement("p");
    line.textContent = text;
    $("announce").append(line);
    while ($("announce").childElementCount > 5) $("announce").firstElementChild.remove();
  }

  function item(className, parts) {
    const li = document.createElement("li");
    if (className) li.className = className;
    for (const [cls, text] of parts) {
      if (!text) continue;
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span, " ");
    }
    return li;
  }

  function fill(list, items, emptyKey) {
    list.replaceChildren(...items);
    if (!items.length) list.append(item("", [["hint", t(emptyKey)]]));
  }

  function render() {
    document.documentElement.lang = language();
    for (const el of document.querySelectorAll("[data-text]")) el.textContent = t(el.dataset.text);
    $("language").textContent = (model.texts[otherLanguage()] || {}).other_language || "";
    $("language").setAttribute("aria-label", t("other_language_label"));
    $("language").lang = otherLanguage();
    $("connection").hidden = model.connected;
    const s = model.state;
    if (!s) return;

    const warnings = s.warnings.map((w) => item("", [["text", t(w.type === "missed" ? "warning_missed" : w.call ? "warning_call" : "warning_check")], ["hint", t(`kind_${w.kind}`)]]));
    for (const rule of s.gateway) warnings.push(item("", [["text", t(`gateway_${rule}`)]]));
    $("warnings").hidden = warnings.length === 0;
    $("warning-list").replaceChildren(...warnings);

    fill($("today"), s.today.map((p) => item(p.done ? "done" : "open", [
      ["label", t(`plan_${p.kind}`)], ["hint", t("plan_due", { due: p.due })], ["status", t(p.done ? "plan_done" : "plan_open")],
    ])), "today_empty");

    fill($("readings"), s.readings.map((r) => {
      const trend = r.trend === "steady" || r.change === null ? t("trend_steady")
        : t(`trend_${r.trend}`, { change: number(Math.abs(r.change)), unit: unit(r.unit) });
      const value = r.text.includes("/") ? r.text : number(Number(r.text));
      return item("", [["label", t(`kind_${r.kind}`)], ["value", `${value} ${unit(r.unit)}`], ["hint", trend], ["hint", when(r.at)]]);
    }), "readings_empty");

    fill($("messages"), s.messages.map((m) => item("", [
      ["label", m.kind === "note" ? m.text : t("message_acknowledged")], ["hint", `${when(m.at)}${m.by ? " · " + m.by : ""}`],
    ])), "messages_empty");

    fill($("devices"), s.devices.map((d) => item(d.problems.length ? "problem" : "", [
      ["label", d.name || t(`device_${d.kind}`)],
      ["hint", d.battery === null ? "" : t("device_battery", { battery: d.battery })],
      ["hint", d.last_seen ? t("device_last_seen", { when: when(d.last_seen) }) : t("device_never_seen")],
      ...d.problems.map((p) => ["status", t(`device_${p}`)]),
    ])), "devices_empty");

    const call = s.call.state;
    document.body.dataset.call = call;
    $("call-status").textContent = t(`call_${call}`);
    $("call-ward").hidden = !["idle", "ended", "failed"].includes(call);
    $("call-accept").hidden = $("call-decline").hidden = call !== "ringing";
    $("call-hang-up").hidden = !["calling", "in_call"].includes(call);
    if (call === "ringing" && model.call !== "ringing") {
      announce(t("announce_ringing"));
      $("call-accept").focus();
    }
    model.call = call;
    renderCall(s.call);
  }

  // -- during a call: the ward's video and voice, the self-view -----------------------------
  const CALL_VIDEO = ["calling", "in_call"];
  const video = window.loopbackVideo({
    ids: { self: "self-view", far: "ward-video", voice: "ward-audio" },
    onChange: () => render(),
    askAgain: (tracks) => model.call === "in_call" && (!tracks.physician || !tracks.physician_audio),
  });

  function renderCall(call) {
    const wanted = CALL_VIDEO.includes(call.state);
    if (!wanted && video.open) video.close();
    // admitted: ask again for the ward's tracks (the self-view alone came while calling)
    else if (wanted && (!video.open || (call.state === "in_call" && model.videoFor !== "in_call"))) {
      video.connect();
    }
    model.videoFor = wanted ? call.state : null;
    $("videos").hidden = !wanted;
    $("hear-ward").hidden = !(video.audioBlocked && call.state === "in_call");
    $("video-status").textContent = wanted && video.state === "unavailable" ? t("video_unavailable") : "";
    const people = call.state === "in_call" && call.participants.length
      ? t("call_people", { names: call.participants.join(", ") }) : "";
    const alone = call.state === "in_call" && (call.reason || "").startsWith("sfu_unavailable")
      ? t("call_peer_to_peer") : "";
    $("call-people").textContent = [people, alone].filter(Boolean).join(" ");
  }

  async function refresh() {
    const response = await fetch("state.json", { cache: "no-store" });
    if (response.ok) model.state = await response.json();
    render();
  }

  function listen() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}${location.pathname.replace(/[^/]*$/, "")}events`);
    const ping = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send("ping"), 20000);
    socket.onopen = () => { model.connected = true; refresh(); };
    socket.onmessage = (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "reading") announce(t("announce_reading", { kind: t(`kind_${event.kind}`) }));
      if (event.type === "alert" && event.change === "raised" && event.alert.rule_type !== "device") {
        announce(t("announce_alert", { text: t(event.alert.severity === "high" ? "warning_call" : "warning_check") }));
      }
      refresh();
    };
    socket.onclose = () => {
      clearInterval(ping);
      model.connected = false;
      render();
      setTimeout(listen, 2000);
    };
  }

  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      await fetch("call", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ action: button.dataset.action }),
      });
    });
  }
  $("language").addEventListener("click", () => { model.chosen = otherLanguage(); render(); });
  $("hear-ward").addEventListener("click", () => video.playVoice());

  (async () => {
    const response = await fetch("texts.json", { cache: "no-store" });
    const data = await response.json();
    model.texts = data.texts;
    model.defaultLanguage = data.default;
    if (asked && asked in model.texts) model.chosen = asked;
    render();
    listen();
  })();
})();
