// The patient's kiosk page: renders the room's events (WS /kiosk/events), checks in
// (POST /kiosk/check-in) and shows the loopback video (POST /kiosk/webrtc).
// Every string comes from texts.json (one table per language); nothing here is loaded
// from anywhere but this server (see the Content-Security-Policy).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const asked = new URLSearchParams(location.search).get("lang");
  let requested = null;  // ?lang=, once known to be a language of texts.json

  const model = {
    texts: {},
    defaultLanguage: "de",
    chosen: null,          // the patient's choice (button) or ?lang=
    visitLanguage: null,   // CheckedIn.language
    state: "loading",
    devices: [],           // [{device, status, summary}] in the guided order
    step: null,            // the last DeviceStep
    position: null,        // WaitingRoom.position
    physician: null,       // Admitted.physician (display name) or null
    admitted: false,
    exam: null,            // the last ExamStep, with .receivedAt (ms)
    wrapped: null,         // VisitWrappedUp
    cleaningUntil: null,
    rejected: null,        // a check-in refusal reason
    checkingIn: false,
    error: false,
    connected: false,
    refusals: {},          // outbox row -> RecordRejected still standing (the staff's line)
    participants: [],      // ParticipantsChanged.participants: [{id, role, name, speaking}]
  };

  // -- texts -----------------------------------------------------------------------
  const language = () => model.chosen || model.visitLanguage || model.defaultLanguage;
  const otherLanguage = () => Object.keys(model.texts).find((l) => l !== language()) || language();
  const has = (key) => key in (model.texts[language()] || {});
  function t(key, params = {}) {
    const text = (model.texts[language()] || {})[key];
    if (text === undefined) return "";
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  }

  // -- announcements (the aria-live region) -----------------------------------------
  // The live region is a log: each message is a new line a screen reader says in turn, so
  // a burst of events (Admitted, then the new state) loses none; the last few are kept.
  const KEPT_ANNOUNCEMENTS = 5;
  function announce(text) {
    if (!text) return;
    const region = $("announce");
    if (region.lastElementChild && region.lastElementChild.textContent === text) return;
    const line = document.createElement("p");
    line.textContent = text;
    region.append(line);
    while (region.childElementCount > KEPT_ANNOUNCEMENTS) region.firstElementChild.remove();
  }

  const deviceName = (device) => t(`device_${device}`) || device;
  const instruction = (step) => t(step.instruction) || deviceName(step.device);

  // -- events: one handler per event type ----------------------------------------------
  const handlers = {
    state(e) {
      const previous = model.state;
      model.state = e.state;
      model.error = false;
      if (e.state === "idle" && previous !== "idle") resetVisit();  // not on a mere reconnect
      if (e.state !== previous) announce(stateTitle());
      syncVideo();
    },
    checked_in(e) {
      model.visitLanguage = e.language;  // the patient's own choice (button, ?lang=) still wins
      model.devices = e.devices.map((device) => ({ device, status: "waiting", summary: "" }));
      model.rejected = null;
      model.checkingIn = false;
      announce(`${t("checked_in_title")}. ${t("checked_in_text")}`);
    },
    check_in_rejected(e) {
      model.rejected = e.reason;
      model.checkingIn = false;
    },
    device_step(e) {
      const entry = deviceEntry(e.device);
      const changed = !model.step || model.step.device !== e.device || model.step.status !== e.status
        || model.step.attempt !== e.attempt;
      entry.status = e.status;
      model.step = e;
      if (!changed) return;
      if (e.status === "failed") announce(`${deviceName(e.device)}: ${t("status_failed")}. ${t("retry")}`);
      else if (e.status === "done" || e.status === "skipped") announce(`${deviceName(e.device)}: ${t(`status_${e.status}`)}`);
      else announce(`${instruction(e)}. ${t(`${e.instruction}_hint`)}`);
    },
    reading(e) {
      const entry = deviceEntry(e.device);
      entry.summary = e.summary;
      announce(`${deviceName(e.device)}: ${e.summary}`);
    },
    waiting(e) {
      model.position = e.position;
      announce(waitingText());
    },
    admitted(e) {
      model.admitted = true;
      model.physician = e.physician;
      announce(joinedText());
      connectVideo();
    },
    exam_step(e) {
      const previous = model.exam;
      model.exam = { ...e, receivedAt: performance.now() };
      if (!previous || previous.step !== e.step || previous.phase !== e.phase) {
        announce(e.phase === "instruct" ? `${t(`exam_${e.step}_title`)}. ${t(`exam_${e.step}`)}` : examPhaseText());
      }
    },
    snapshot(e) {
      if (e.camera === "exam" && e.step === null) announce(t("snapshot_taken"));
    },
    wrapped_up(e) {
      model.wrapped = e;
      announce(`${t("wrapped_up_text")} ${wrapCounts()}`);
    },
    cleaning(e) {
      model.cleaningUntil = e.until;
      announce(t("cleaning_text", { time: cleaningTime() }));
    },
    error() {
      model.error = true;
    },
    record_rejected(e) {
      model.refusals[e.outbox_row] = e;
    },
    record_delivered(e) {
      delete model.refusals[e.outbox_row];
    },
    participants(e) {
      const before = new Map(model.participants.map((q) => [q.id, q]));
      model.participants = e.participants;
      for (const q of e.participants) {
        const was = before.get(q.id);
        const who = { name: q.name, role: roleName(q.role) };
        if (!was) announce(t("participant_joined", who));
        if (q.speaking && !(was && was.speaking)) announce(t("participant_speaking", who));
      }
    },
  };
  const roleName = (role) => t(`role_${role}`) || role;

  function resetVisit() {
    Object.assign(model, {
      visitLanguage: null, chosen: requested, devices: [], step: null, position: null, physician: null,
      admitted: false, exam: null, wrapped: null, cleaningUntil: null, checkingIn: false,
    });
    model.participants = [];
  }

  function deviceEntry(device) {
    let entry = model.devices.find((d) => d.device === device);
    if (!entry) {
      entry = { device, status: "waiting", summary: "" };
      model.devices.push(entry);
    }
    return entry;
  }

  // -- texts that depend on the model -----------------------------------------------------
  const stateTitles = {
    idle: "welcome_title", checked_in: "checked_in_title",
    waiting: "waiting_title", in_consultation: "consultation_title", wrap_up: "wrapped_up_title",
    cleaning: "cleaning_title",
  };
  function stateTitle() {
    if (model.state === "measuring") return model.step ? instruction(model.step) : t("checked_in_title");
    return t(stateTitles[model.state] || "title");
  }
  const waitingText = () => (model.position ? t("waiting_position", { position: model.position }) : t("waiting_next"));
  const joinedText = () => (model.physician
    ? t("physician_joined", { physician: model.physician }) : t("physician_joined_anonymous"));
  function countdownLeft() {
    const exam = model.exam;
    return Math.max(0, exam.countdown - Math.floor((performance.now() - exam.receivedAt) / 1000));
  }
  function examPhaseText() {
    const exam = model.exam;
    if (exam.phase === "instruct") return t("exam_get_ready", { seconds: countdownLeft() });
    return t(exam.phase === "capture" ? "exam_capture" : "exam_done");
  }
  const wrapCounts = () => t("wrapped_up_counts", {
    observations: model.wrapped.observations, media: model.wrapped.media,
  });
  function cleaningTime() {
    const until = new Date(model.cleaningUntil);
    return until.toLocaleTimeString(language(), { hour: "2-digit", minute: "2-digit" });
  }

  // -- rendering -------------------------------------------------------------------------
  function render() {
    const lang = language();
    document.documentElement.lang = lang;
    document.body.dataset.state = model.state;
    document.title = t("title");
    for (const element of document.querySelectorAll("[data-text]")) element.textContent = t(element.dataset.text);
    for (const element of document.querySelectorAll("[data-label]")) element.setAttribute("aria-label", t(element.dataset.label));
    const switcher = $("language");
    switcher.textContent = t("other_language");
    switcher.lang = otherLanguage();
    switcher.setAttribute("aria-label", t("other_language_label"));

    for (const screen of document.querySelectorAll(".screen")) {
      screen.hidden = !screen.dataset.for.split(" ").includes(model.state);
    }
    $("connection").hidden = model.connected;
    $("connection").textContent = model.connected ? "" : t("connection_lost");
    renderAlert();
    renderCheckIn();
    renderMeasuring();
    renderVideo();
    renderExam();
    renderParticipants();
    $("wrap-counts").textContent = model.wrapped ? wrapCounts() : "";
    // The thank-you stays up while the room is cleaned after this visit (wrap-up itself
    // lasts only as long as writing the record).
    if (model.state === "cleaning" && model.wrapped) $("screen-wrap-up").hidden = false;
    $("cleaning-text").textContent = model.cleaningUntil ? t("cleaning_text", { time: cleaningTime() }) : "";
    renderOperator();
  }

  // The staff's line: shown between visits only, never over a patient's visit. The
  // server's reason is its OperationOutcome's diagnostics (else its answer in one line).
  const MAX_REASON = 300;
  function refusalReason(e) {
    const said = (e.issues || []).map((issue) => issue.diagnostics).filter(Boolean).join("; ");
    const reason = said || e.reason;
    return reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason;
  }
  function renderOperator() {
    const refusals = Object.values(model.refusals).sort((a, b) => a.outbox_row - b.outbox_row);
    $("operator").hidden = !(refusals.length && model.state === "idle");
    $("refusals").replaceChildren(...refusals.map((e) => {
      const item = document.createElement("li");
      item.dataset.row = String(e.outbox_row);
      const lines = [
        t("record_rejected", { row: e.outbox_row, status: e.status || "–" }),
        t("record_rejected_reason", { reason: refusalReason(e) }),
        t("record_rejected_fix", { row: e.outbox_row }),
      ];
      item.append(...lines.map((text) => {
        const line = document.createElement("p");
        line.textContent = text;
        return line;
      }));
      return item;
    }));
  }

  function renderAlert() {
    let text = "";
    if (model.error) text = `${t("error_title")}. ${t("error_text")}`;
    else if (model.rejected && model.state === "idle") {
      text = has(`rejected_${model.rejected}`) ? t(`rejected_${model.rejected}`) : t("rejected_other");
    }
    if ($("alert").textContent !== text) $("alert").textContent = text;
  }

  function renderCheckIn() {
    $("check-in").disabled = model.checkingIn;
    $("check-in-status").textContent = model.checkingIn ? t("checking_in") : "";
    const code = $("code");
    if (model.rejected) code.setAttribute("aria-invalid", "true");
    else code.removeAttribute("aria-invalid");
  }

  function renderMeasuring() {
    const step = model.step;
    if (step && model.state === "measuring") {
      $("step-title").textContent = instruction(step);
      $("step-hint").textContent = step.status === "failed" ? t("retry") : t(`${step.instruction}_hint`);
      let meta = t("step_of", { index: step.index + 1, total: step.total });
      if (step.attempt > 1) meta += ` · ${t("attempt", { attempt: step.attempt })}`;
      $("step-meta").textContent = meta;
    } else {
      $("step-title").textContent = t("checked_in_title");
      $("step-hint").textContent = t("checked_in_text");
      $("step-meta").textContent = "";
    }
    const list = $("devices");
    list.replaceChildren(...model.devices.map((entry) => {
      const item = document.createElement("li");
      item.className = "device";
      item.dataset.device = entry.device;
      item.dataset.status = entry.status;
      if (step && step.device === entry.device && model.state === "measuring") item.setAttribute("aria-current", "step");
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = deviceName(entry.device);
      const status = document.createElement("span");
      status.className = "status";
      status.textContent = t(`status_${entry.status}`);
      const summary = document.createElement("span");
      summary.className = "summary";
      summary.textContent = entry.summary;
      item.append(name, status, summary);
      return item;
    }));
  }

  function renderVideo() {
    const consulting = model.state === "in_consultation";
    $("video-title").textContent = t(consulting ? "consultation_title" : "waiting_title");
    $("video-text").textContent = consulting ? (model.admitted ? joinedText() : "") : waitingText();
    $("video-status").textContent = video.state === "unavailable" ? t("video_unavailable") : "";
    $("hear-physician").hidden = !(video.audioBlocked && consulting);
  }

  function renderExam() {
    const exam = model.exam;
    const panel = $("exam");
    panel.hidden = !(exam && model.state === "in_consultation");
    if (panel.hidden) return;
    panel.dataset.phase = exam.phase;
    panel.dataset.step = exam.step;
    $("exam-pictogram-use").setAttribute("href", `#face-${exam.step}`);
    $("exam-meta").textContent = `${t("exam_title")} · ${t("step_of", { index: exam.index + 1, total: exam.total })}`;
    $("exam-step-title").textContent = t(`exam_${exam.step}_title`) || exam.step;
    $("exam-instruction").textContent = t(`exam_${exam.step}`);
    $("exam-countdown").textContent = exam.phase === "instruct" ? String(countdownLeft()) : "";
    $("exam-phase").textContent = examPhaseText();
  }

  function renderParticipants() {
    $("participants").hidden = !(model.participants.length && model.state === "in_consultation");
    $("participants-list").replaceChildren(...model.participants.map((q) => {
      const item = document.createElement("li");
      item.className = "participant";
      item.dataset.id = q.id;
      item.dataset.role = q.role;
      item.dataset.speaking = String(q.speaking);
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = q.name || roleName(q.role);
      const role = document.createElement("span");
      role.className = "role";
      role.textContent = roleName(q.role);
      item.append(name, role);
      if (q.speaking) {
        const speaking = document.createElement("span");
        speaking.className = "speaking";
        speaking.textContent = t("speaking");
        item.append(speaking);
      }
      return item;
    }));
  }

  // The countdown runs on between the room's events (which may come once per step).
  setInterval(() => {
    if (model.exam && model.exam.phase === "instruct" && model.state === "in_consultation") renderExam();
  }, 250);

  // -- check-in ---------------------------------------------------------------------------
  $("check-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const code = $("code").value.trim();
    if (!code) {
      model.rejected = "invalid_code";
      render();
      $("code").focus();
      return;
    }
    model.rejected = null;
    model.checkingIn = true;
    render();
    try {
      const response = await fetch("check-in", {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ code }),
      });
      if (response.status === 204) {
        $("code").value = "";  // the booking code does not stay on screen
      } else {
        model.rejected = (await response.json()).reason || "other";
        model.checkingIn = false;
      }
    } catch {
      model.rejected = "other";
      model.checkingIn = false;
    }
    render();
    if (model.rejected) $("code").focus();
  });

  $("language").addEventListener("click", () => {
    model.chosen = otherLanguage();
    render();
  });

  // -- video: a loopback WebRTC connection to the room (video.js) --------------------------
  const video = window.loopbackVideo({
    ids: { self: "self-view", far: "physician-video", voice: "physician-audio" },
    onChange: () => render(),
    askAgain: (tracks) => (model.state === "waiting" || model.state === "in_consultation")
      && model.admitted && (!tracks.physician || !tracks.physician_audio),
  });
  const closeVideo = () => video.close();
  const connectVideo = () => video.connect();

  function syncVideo() {
    const wanted = model.state === "waiting" || model.state === "in_consultation";
    if (!wanted) closeVideo();
    else if (!video.open) connectVideo();
  }

  $("hear-physician").addEventListener("click", () => video.playVoice());

  // -- the event stream --------------------------------------------------------------------
  let backoff = 500;
  function connectEvents() {
    const url = new URL("events", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.search = "";
    const socket = new WebSocket(url);
    let ping = null;
    socket.addEventListener("open", () => {
      model.connected = true;
      model.refusals = {};  // the room tells the standing ones again, right after its state
      backoff = 500;
      ping = setInterval(() => socket.send("ping"), 20000);
      render();
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      const handler = handlers[event.type];
      if (handler) handler(event);
      render();
    });
    socket.addEventListener("close", () => {
      clearInterval(ping);
      model.connected = false;
      render();
      setTimeout(connectEvents, backoff);
      backoff = Math.min(backoff * 2, 8000);
    });
  }

  async function start() {
    try {
      const response = await fetch("texts.json");
      const data = await response.json();
      model.texts = data.texts;
      model.defaultLanguage = data.default;
      if (asked && asked in data.texts) requested = asked;
      model.chosen = requested;
    } catch {
      setTimeout(start, 1000);
      return;
    }
    model.connected = true;  // until the socket says otherwise
    render();
    connectEvents();
  }
  start();
})();
