// telemedroom physician console: plain JavaScript, no build step, no third-party code.
// Protocol: docs/protocol.md (signaling v1) and telemedroom.session.channels (data channels).
// The join token comes in the URL fragment (#token=...), which browsers never send to a server.
"use strict";

const PROTOCOL_VERSION = 1;
const $ = (id) => document.getElementById(id);

// -- language and units ------------------------------------------------------------
// Every string, and every unit symbol, comes from texts.json (one table per language, as
// the kiosk does). The console speaks the browser's language when it has it (German or
// English: navigator.languages), else texts.json's default; #lang=de|en in the link wins.
// Units arrive as UCUM codes (mm[Hg]) and are shown as people write them (mmHg).
const i18n = { texts: {}, units: {}, lang: "en" };

function pickLanguage(asked, offered, fallback) {
  const wanted = [asked, ...(navigator.languages || [navigator.language])].filter(Boolean);
  for (const tag of wanted) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (offered.includes(base)) return base;
  }
  return fallback;
}

function has(key) {
  return key in (i18n.texts[i18n.lang] || {});
}

function t(key, params = {}) {
  const text = (i18n.texts[i18n.lang] || {})[key];
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
}

const unit = (code) => i18n.units[code] || code;

function translatePage() {
  document.documentElement.lang = i18n.lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.tAriaLabel));
  }
}

async function loadTexts(asked) {
  const response = await fetch("texts.json");
  const data = await response.json();
  i18n.texts = data.texts;
  i18n.units = data.units;
  i18n.lang = pickLanguage(asked, data.languages, data.default);
  translatePage();
}

const pulse = (rate) => (rate != null ? t("pulse", { value: fmt(rate) }) : "");
const meal = (code) => (code && has(`meal_${code}`) ? t(`meal_${code}`) : code || "");

// kind -> how to show a reading: value text, unit, extra line.
const VITALS = {
  blood_pressure: (m) => [`${fmt(m.systolic)}/${fmt(m.diastolic)}`, unit(m.unit), pulse(m.pulse_rate)],
  heart_rate: (m) => [fmt(m.bpm), unit("/min"), ""],
  oxygen_saturation: (m) => [fmt(m.spo2_percent), unit("%"), pulse(m.pulse_rate)],
  body_temperature: (m) => [fmt(m.value), unit(m.unit), m.site || ""],
  body_weight: (m) => [fmt(m.value), unit(m.unit), m.bmi != null ? t("bmi", { value: fmt(m.bmi) }) : ""],
  blood_glucose: (m) => [fmt(m.value), unit(m.unit), meal(m.context && m.context.meal)],
};

// Sunnybrook Facial Grading System (Ross, Fradet, Nedzelski, Otolaryngol Head Neck Surg
// 1996;114:380-6): each group's points (the answers' ordinalValue in the room's
// Questionnaire) times its weight; composite = voluntary - resting - synkinesis, not
// clamped, exactly as telemedroom.exams.SunnybrookGrading.score computes it.
const SUNNYBROOK_WEIGHTS = { resting: 5, voluntary: 4, synkinesis: 1 };
const ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
// FHIR core translation extension on a string's "_element" (R4B §2.1.0 Language support).
const TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation";

function translated(text, element, lang) {
  for (const ext of (element && element.extension) || []) {
    if (ext.url !== TRANSLATION) continue;
    const parts = Object.fromEntries((ext.extension || []).map((e) => [e.url, e]));
    if (parts.lang && parts.lang.valueCode === lang && parts.content) return parts.content.valueString;
  }
  return text;
}

function sunnybrookScores(points) {
  // points: group -> list of answered points (null for an unanswered item)
  const sum = (group) => points[group].reduce((a, b) => a + b, 0);
  const complete = Object.keys(SUNNYBROOK_WEIGHTS).every((g) => points[g].every((x) => x !== null));
  if (!complete) return null;
  const resting = SUNNYBROOK_WEIGHTS.resting * sum("resting");
  const voluntary = SUNNYBROOK_WEIGHTS.voluntary * sum("voluntary");
  const synkinesis = SUNNYBROOK_WEIGHTS.synkinesis * sum("synkinesis");
  return { resting, voluntary, synkinesis, composite: voluntary - resting - synkinesis };
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function figure(className, src, alt, caption) {
  const fig = document.createElement("figure");
  fig.className = className;
  const img = document.createElement("img");
  img.alt = alt;
  img.src = src;
  const cap = document.createElement("figcaption");
  cap.textContent = caption;
  fig.append(img, cap);
  return fig;
}

// The guided facial protocol: the room counts down on its kiosk and takes each still;
// this panel shows the step, the stills, the grading forms and the comparison.
class FacialExam {
  constructor(owner, lang) {
    this.owner = owner;
    this.lang = lang === "de" ? "de" : "en";  // the forms' and steps' language: the console's
    this.forms = null;
    this.running = false;
    this.measuring = null;  // null: not known yet; false: the room measures no faces
    this.measured = new Map();  // step code -> the room's exam_measure answer
  }

  bind() {
    $("exam-start").addEventListener("click", () => this.run().catch((err) => this.fail(err)));
    $("exam-compare-button").addEventListener("click", () => this.compare().catch((err) => this.fail(err)));
    $("exam-grading").addEventListener("submit", (event) => {
      event.preventDefault();
      this.save().catch((err) => {
        $("exam-saved").dataset.error = "1";
        $("exam-saved").textContent = t("not_saved", { error: err.message || err });
      });
    });
    $("exam-grading").addEventListener("change", () => this.score());
  }

  fail(err) {
    this.running = false;
    $("exam-start").disabled = false;
    $("exam-current").dataset.phase = "error";
    $("exam-step-title").textContent = t("exam_error", { error: err.message || err });
  }

  async loadForms() {
    if (this.forms) return this.forms;
    this.forms = await this.owner.requestJson("exam_forms");
    this.renderForms(this.forms);
    return this.forms;
  }

  async run() {
    if (this.running) return;
    this.running = true;
    $("exam-start").disabled = true;
    const { protocol } = await this.loadForms();
    const clip = $("exam-clip").checked;
    $("exam-stills").replaceChildren();
    this.measured.clear();
    for (const [index, step] of protocol.entries()) {
      const shot = await this.owner.request(
        "exam_step",
        { step: step.code, index, total: protocol.length, clip, format: "png" },
        (progress) => this.show(step, progress),
      );
      this.addStill(step, index, shot);
    }
    $("exam-current").dataset.phase = "complete";
    $("exam-step-title").textContent = t("protocol_complete", { count: protocol.length });
    $("exam-instruction").textContent = t("grade_now");
    $("exam-countdown").textContent = "";
    $("exam-grading").hidden = false;
    this.running = false;
    $("exam-start").disabled = false;
  }

  show(step, progress) {
    const current = $("exam-current");
    current.dataset.phase = progress.phase;
    current.dataset.step = step.code;
    current.dataset.countdown = String(progress.countdown);
    $("exam-step-title").textContent = `${progress.index + 1}/${progress.total} · ${step.title[this.lang]}`;
    $("exam-instruction").textContent = step.instruction[this.lang];
    $("exam-countdown").textContent =
      progress.phase === "instruct" ? String(progress.countdown) : progress.phase === "capture" ? "●" : "✓";
  }

  addStill(step, index, shot) {
    const fig = figure(
      "still",
      `data:${shot.media_type};base64,${shot.data}`,
      t("still_alt", { step: step.title[this.lang], width: shot.width, height: shot.height }),
      `${index + 1}. ${step.title[this.lang]} · ${shot.width}×${shot.height}`,
    );
    fig.dataset.step = step.code;
    if (shot.clip) {
      // a blob: URL, which the page's CSP allows for media (data: is for images only)
      const video = document.createElement("video");
      video.src = URL.createObjectURL(new Blob([base64Bytes(shot.clip)], { type: shot.clip_media_type }));
      video.controls = true;
      video.muted = true;
      video.className = "clip";
      fig.insertBefore(video, fig.querySelector("figcaption"));
    }
    $("exam-stills").append(fig);
    if (this.measuring !== false) {
      this.measure(step, fig).catch((err) => {
        fig.dataset.measure = "error";
        fig.querySelector("figcaption").textContent += ` · not measured: ${err.message || err}`;
      });
    }
  }

  // -- facial measurements: a measurement aid, not a diagnosis (telemedroom.exams) --------
  async measure(step, fig) {
    const answer = await this.owner.requestJson("exam_measure", { step: step.code });
    if (!answer.available) {
      this.measuring = false;  // the room does not measure faces: ask no more
      return;
    }
    $("exam-measures").hidden = false;
    if (!answer.points) {
      fig.dataset.measure = "problem";
      fig.querySelector("figcaption").textContent += t("not_measured", { problem: answer.problem });
      return;
    }
    fig.dataset.measure = "ok";
    fig.querySelector("img").after(landmarkOverlay(answer));
    this.measured.set(step.code, { step, answer });
    this.renderMeasures();
  }

  renderMeasures() {
    const body = $("exam-measures-body");
    body.replaceChildren();
    const order = (this.forms ? this.forms.protocol : []).map((s) => s.code);
    const steps = [...this.measured.values()].sort((a, b) => order.indexOf(a.step.code) - order.indexOf(b.step.code));
    for (const { step, answer } of steps) {
      for (const m of answer.measures) {
        const row = document.createElement("tr");
        row.dataset.code = m.code;
        const cells = [
          step.title[this.lang], m.title, `${fmt(m.left)} ${m.unit}`, `${fmt(m.right)} ${m.unit}`,
          m.percent_of_normal == null ? "–" : `${fmt(m.percent_of_normal)} %`,
          m.weaker ? t(m.weaker === "left" ? "side_left" : "side_right") : "–",
        ];
        for (const text of cells) {
          const td = document.createElement("td");
          td.textContent = text;
          row.append(td);
        }
        body.append(row);
      }
    }
  }

  renderTrend(trend) {
    const holder = $("exam-trend");
    holder.replaceChildren();
    if (!trend || !trend.length) return;
    // one column per visit (its Encounter), oldest first, headed by the visit's first still's date
    const first = new Map();
    for (const p of trend.flatMap((item) => item.points)) {
      if (!first.has(p.encounter) || p.date < first.get(p.encounter)) first.set(p.encounter, p.date);
    }
    const visits = [...first.keys()].sort((a, b) => (first.get(a) < first.get(b) ? -1 : 1));
    const table = document.createElement("table");
    const caption = document.createElement("caption");
    caption.textContent = t("trend_caption");
    const head = document.createElement("tr");
    for (const text of [t("measure"), ...visits.map((v) => new Date(first.get(v)).toLocaleDateString())]) {
      const th = document.createElement("th");
      th.textContent = text;
      head.append(th);
    }
    table.append(caption, head);
    for (const item of trend) {
      const row = document.createElement("tr");
      row.dataset.code = item.code;
      row.dataset.visits = String(item.points.length);
      const name = document.createElement("th");
      name.textContent = item.title;
      row.append(name);
      for (const visit of visits) {
        const p = item.points.find((x) => x.encounter === visit);
        const td = document.createElement("td");
        td.textContent = p
          ? `${fmt(p.left)} / ${fmt(p.right)} ${item.unit}` + (p.percent_of_normal == null ? "" : ` · ${fmt(p.percent_of_normal)} %`)
          : "–";
        if (p && p.percent_of_normal != null) td.dataset.percent = String(p.percent_of_normal);
        row.append(td);
      }
      table.append(row);
    }
    holder.append(table);
  }

  renderForms(forms) {
    const grade = $("hb-grade");
    for (const option of forms.house_brackmann.item[0].answerOption) {
      const o = document.createElement("option");
      o.value = option.valueCoding.code;
      o.textContent = translated(option.valueCoding.display, option.valueCoding._display, this.lang);
      grade.append(o);
    }
    const holder = $("sunnybrook");
    holder.replaceChildren();
    for (const group of forms.sunnybrook.item) {
      const fieldset = document.createElement("fieldset");
      fieldset.dataset.group = group.linkId.split(".")[1];
      const legend = document.createElement("legend");
      legend.textContent = `Sunnybrook: ${translated(group.text, group._text, this.lang)}`;
      fieldset.append(legend);
      for (const item of group.item) {
        const label = document.createElement("label");
        label.htmlFor = item.linkId;
        label.textContent = translated(item.text, item._text, this.lang);
        const select = document.createElement("select");
        select.id = item.linkId;
        select.name = item.linkId;
        select.className = "sunnybrook-item";
        const empty = document.createElement("option");
        empty.value = "";
        empty.textContent = "–";
        select.append(empty);
        for (const option of item.answerOption) {
          const o = document.createElement("option");
          const points = option.valueCoding.extension.find((e) => e.url === ORDINAL).valueDecimal;
          o.value = option.valueCoding.code;
          o.dataset.points = String(points);
          o.textContent = translated(option.valueCoding.display, option.valueCoding._display, this.lang);
          select.append(o);
        }
        fieldset.append(label, select);
      }
      holder.append(fieldset);
    }
  }

  // group -> [points or null], and the answers as SunnybrookGrading takes them
  answers() {
    const points = { resting: [], voluntary: [], synkinesis: [] };
    const grading = { voluntary: {}, synkinesis: {} };
    let answered = 0;
    for (const select of document.querySelectorAll("select.sunnybrook-item")) {
      const [, group, ...rest] = select.name.split(".");
      const item = rest.join(".");
      const chosen = select.selectedOptions[0];
      const value = chosen && chosen.value ? Number(chosen.dataset.points) : null;
      points[group].push(value);
      if (value === null) continue;
      answered += 1;
      if (group === "resting") grading[item] = chosen.value;
      else grading[group][item] = value;
    }
    return { points, grading: answered ? grading : null };
  }

  score() {
    const scores = sunnybrookScores(this.answers().points);
    for (const part of ["resting", "voluntary", "synkinesis", "composite"]) {
      $(`sb-${part}`).textContent = scores ? String(scores[part]) : "–";
    }
    $("sb-composite").dataset.value = scores ? String(scores.composite) : "";
    return scores;
  }

  async save() {
    const { grading } = this.answers();
    const grade = $("hb-grade").value || null;
    delete $("exam-saved").dataset.error;
    const answer = await this.owner.request("exam_record", { sunnybrook: grading, house_brackmann: grade });
    const counts = {};
    for (const url of answer.resources) {
      const kind = url.split("/")[0];
      counts[kind] = (counts[kind] || 0) + 1;
    }
    const written = Object.entries(counts).map(([kind, n]) => `${n} ${kind}`).join(", ");
    const composite = answer.scores ? t("saved_composite", { composite: answer.scores.composite }) : "";
    $("exam-saved").textContent = t("saved", { written }) + composite;
    $("exam-saved").dataset.resources = String(answer.resources.length);
    if (answer.scores) $("exam-saved").dataset.composite = String(answer.scores.composite);
  }

  async compare() {
    const { pairs, trend } = await this.owner.requestJson("exam_compare");
    this.renderTrend(trend);
    const holder = $("exam-compare");
    holder.replaceChildren();
    for (const pair of pairs) {
      const row = document.createElement("div");
      row.className = "pair";
      row.dataset.step = pair.step;
      const title = document.createElement("h3");
      title.textContent = pair.title[this.lang];
      row.append(title);
      for (const [side, media] of [["before", pair.before], ["after", pair.after]]) {
        if (!media) {
          const none = document.createElement("div");
          none.className = `none ${side}`;
          none.textContent = t(side === "before" ? "no_still_before" : "no_still_after");
          row.append(none);
          continue;
        }
        // a still is a Media or a DocumentReference (telemedroom.exams.step_media)
        const isDocument = media.resourceType === "DocumentReference";
        const attachment = isDocument ? media.content[0].attachment : media.content;
        const when = new Date(isDocument ? media.date : media.createdDateTime).toLocaleDateString(i18n.lang);
        const visit = t(side === "before" ? "previous_visit" : "this_visit");
        row.append(figure(
          side,
          `data:${attachment.contentType};base64,${attachment.data}`,
          `${pair.title[this.lang]}, ${visit}`,
          `${visit} · ${when}`,
        ));
      }
      holder.append(row);
    }
  }
}

// The landmarks the room measured, drawn over a still (SVG in the image's pixel space).
const SVG = "http://www.w3.org/2000/svg";
const LANDMARK_LINES = [
  ["iris-right", "iris-left"], ["brow-right", "iris-right"], ["brow-left", "iris-left"],
  ["eye-right-upper", "eye-right-lower"], ["eye-left-upper", "eye-left-lower"],
  ["mouth-right", "mouth-left"], ["lip-upper", "lip-lower"], ["ala-right", "ala-left"],
];

function landmarkOverlay(answer) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "landmarks");
  svg.setAttribute("viewBox", `0 0 ${answer.width} ${answer.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("landmarks_label"));
  const r = Math.max(answer.width, answer.height) / 60;  // ~3 px on the 12rem thumbnail
  for (const [a, b] of LANDMARK_LINES) {
    const [p, q] = [answer.points[a], answer.points[b]];
    if (!p || !q) continue;
    const line = document.createElementNS(SVG, "line");
    for (const [k, v] of [["x1", p[0]], ["y1", p[1]], ["x2", q[0]], ["y2", q[1]], ["stroke-width", r / 3]]) {
      line.setAttribute(k, String(v));
    }
    svg.append(line);
  }
  for (const [name, [x, y]] of Object.entries(answer.points)) {
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", String(x));
    dot.setAttribute("cy", String(y));
    dot.setAttribute("r", String(r));
    dot.dataset.name = name;
    svg.append(dot);
  }
  return svg;
}

function fmt(x) {
  // one decimal at most, in the console's language (36,8 in German)
  return x == null ? "–" : (Math.round(x * 10) / 10).toLocaleString(i18n.lang, { useGrouping: false });
}

const role = (name) => (has(`role_${name}`) ? t(`role_${name}`) : name);

function claimsOf(token) {
  const part = token.split(".")[1] || "";
  const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(json);
}

function fingerprintOf(sdp) {
  const m = /^a=fingerprint:(\S+) (\S+)/m.exec(sdp || "");
  return m ? `${m[1].toLowerCase()} ${m[2].toUpperCase()}` : "-";
}

class Console {
  constructor(token, options) {
    this.token = token;
    this.claims = claimsOf(token);
    this.relayOnly = options.relayOnly;
    this.ws = null;
    this.welcome = null;
    this.pc = null;
    this.remoteId = null;
    this.control = null;
    this.requests = new Map();
    this.nextRequest = 1;
    this.camera = "room";
    this.stethoscopeOn = false;
    this.ended = false;
    this.resume = sessionStorage.getItem(`telemedroom.resume.${this.claims.jti}`);
    this.local = null;
    this.exam = new FacialExam(this, options.lang);
    this.roster = new Map();  // participant id -> info (multi-party: names and roles of the tiles)
    this.sfu = null;          // the Janus view, in a multi-party visit (sfu.js)
  }

  async start() {
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      $("self").srcObject = this.local;
    } catch (err) {
      this.status(t("no_self_view", { error: err.name }));
    }
    this.connect();
    $("end").addEventListener("click", () => this.end());
    $("snapshot").addEventListener("click", () => this.snapshot());
    $("camera").addEventListener("click", () => this.switchCamera());
    $("stethoscope").addEventListener("click", () => this.toggleStethoscope());
    this.exam.bind();
  }

  status(text) {
    $("status").textContent = text;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const path = `/ws/${encodeURIComponent(this.claims.room)}/${encodeURIComponent(this.claims.appointment)}`;
    const ws = new WebSocket(`${scheme}://${location.host}${path}`);
    this.ws = ws;
    ws.onopen = () => {
      const join = { type: "join", v: PROTOCOL_VERSION, token: this.token };
      if (this.resume) join.resume = this.resume;
      ws.send(JSON.stringify(join));
    };
    ws.onmessage = (event) => this.onMessage(JSON.parse(event.data));
    ws.onclose = (event) => {
      clearInterval(this.heartbeat);
      if (this.ended || [1000, 4401, 4403, 4410].includes(event.code)) {
        this.status(this.endText || (this.ended ? t("visit_ended") : t("disconnected", { code: event.code })));
        return;
      }
      this.status(t("resuming"));
      setTimeout(() => this.connect(), 1000);  // one retry a second while the resume window lasts
    };
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  onMessage(msg) {
    switch (msg.type) {
      case "welcome":
        this.welcome = msg;
        this.resume = msg.resume;
        sessionStorage.setItem(`telemedroom.resume.${this.claims.jti}`, msg.resume);
        this.heartbeat = setInterval(() => this.send({ type: "ping" }), msg.heartbeat * 1000);
        this.status(t("joined", { role: role(msg.role), room: msg.room }));
        document.body.dataset.joined = msg.role;  // for scripts: the same in every language
        $("recording").textContent = t(msg.recording ? "recording_on" : "not_recorded");
        $("recording").classList.toggle("on", msg.recording);
        $("end").disabled = msg.role !== "physician";
        // Multi-party: an interpreter's or relative's view has no vitals and no exam controls.
        document.body.dataset.role = msg.role;
        document.body.dataset.mode = msg.sfu ? "sfu" : "p2p";
        break;
      case "roster":
        this.showWaiting(msg.participants.filter((p) => p.state === "waiting"));
        this.roster = new Map(msg.participants.map((p) => [p.id, p]));
        this.showParticipants(msg.participants.filter((p) => p.state !== "waiting"));
        break;
      // -- multi-party visits through the SFU (sfu.js) --
      case "sfu":
        this.sfu = new SfuView(this, msg);
        this.sfu.start().catch((err) => this.status(`SFU: ${err.message || err}`));
        break;
      case "sfu_unavailable":
        $("sfu-banner").hidden = false;
        $("sfu-banner").textContent = t("sfu_unavailable", { reason: msg.reason });
        document.body.dataset.mode = "p2p";
        break;
      case "vitals":  // relayed by the server, to physicians only
        this.showVital(JSON.parse(msg.data));
        break;
      case "removed":
        this.ended = true;
        this.endText = msg.reason ? t("removed_because", { reason: msg.reason }) : t("removed");
        this.status(this.endText);
        if (this.sfu) this.sfu.close();
        if (this.pc) this.pc.close();
        break;
      case "offer":
        this.answer(msg.from, msg.sdp).catch((err) => this.status(t("cannot_answer", { error: err })));
        break;
      case "ice":
        if (this.pc && msg.from === this.remoteId && msg.candidate) {
          this.pc.addIceCandidate(msg.candidate).catch(() => {});
        }
        break;
      case "ended":
        this.ended = true;
        this.status(t("visit_ended"));
        if (this.pc) this.pc.close();
        if (this.sfu) this.sfu.close();
        break;
      case "error":
        this.status(t("server_error", { code: msg.code, message: msg.message }));
        break;
      default:
        break;
    }
  }

  showWaiting(waiting) {
    const list = $("waiting-list");
    list.replaceChildren();
    if (!waiting.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = t("nobody_waiting");
      list.append(li);
      return;
    }
    for (const p of waiting) {
      const li = document.createElement("li");
      li.dataset.participant = p.id;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = t("who", { name: p.name || p.id, role: role(p.role) });
      const admit = document.createElement("button");
      admit.className = "primary admit";
      admit.textContent = t("admit");
      admit.onclick = () => this.send({ type: "admit", participant: p.id });
      const deny = document.createElement("button");
      deny.className = "deny";
      deny.textContent = t("deny");
      deny.onclick = () => this.send({ type: "deny", participant: p.id, reason: "" });
      li.append(who, admit, deny);
      list.append(li);
    }
  }

  // Multi-party: who is in the visit, and (for the physician) a Remove button each.
  showParticipants(people) {
    const list = $("participants-list");
    list.replaceChildren();
    for (const p of people) {
      const li = document.createElement("li");
      li.dataset.participant = p.id;
      li.dataset.role = p.role;
      li.dataset.state = p.state;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = t("participant", { name: p.name || p.id, role: role(p.role) }) + (p.id === (this.welcome && this.welcome.participant) ? t("you") : "");
      li.append(who);
      const self = this.welcome && p.id === this.welcome.participant;
      if (this.welcome && this.welcome.sfu && this.welcome.role === "physician" && !self) {
        const remove = document.createElement("button");
        remove.className = "remove";
        remove.textContent = t("remove");
        remove.onclick = () => this.send({ type: "remove", participant: p.id, reason: "" });
        li.append(remove);
      }
      list.append(li);
    }
  }

  async answer(from, sdp) {
    if (this.pc) this.pc.close();
    this.remoteId = from;
    const config = { iceServers: this.welcome.ice_servers.map((s) => ({ ...s })) };
    if (this.relayOnly) config.iceTransportPolicy = "relay";
    const pc = new RTCPeerConnection(config);
    this.pc = pc;
    pc.ontrack = (event) => this.onTrack(event);
    pc.ondatachannel = (event) => this.onChannel(event.channel);
    pc.onconnectionstatechange = () => {
      const state = has(`media_${pc.connectionState}`) ? t(`media_${pc.connectionState}`) : pc.connectionState;
      this.status(t("media_state", { state }));
    };
    await pc.setRemoteDescription({ type: "offer", sdp });
    // Send our camera and microphone back on the room's video and first audio line.
    const transceivers = pc.getTransceivers();
    const video = transceivers.find((t) => t.receiver.track.kind === "video");
    const audio = transceivers.find((t) => t.receiver.track.kind === "audio");
    if (this.local) {
      for (const [t, kind] of [[video, "video"], [audio, "audio"]]) {
        const track = this.local.getTracks().find((x) => x.kind === kind);
        if (t && track) {
          await t.sender.replaceTrack(track);
          t.direction = "sendrecv";
        }
      }
    }
    const candidates = [];
    pc.onicecandidate = (event) => {
      if (!event.candidate) return;
      const { candidate, sdpMid, sdpMLineIndex } = event.candidate;
      if (this.answered) {
        this.send({ type: "ice", to: from, candidate: { candidate, sdpMid, sdpMLineIndex } });
      } else {
        candidates.push({ candidate, sdpMid, sdpMLineIndex });
      }
    };
    this.answered = false;
    await pc.setLocalDescription(await pc.createAnswer());
    // Send the answer with the candidates gathered so far in it (up to 3 s), then each
    // candidate again as an "ice" message: with BUNDLE the browser lists candidates only
    // in the first media section, and aiortc (the room) reads them from the last one.
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, 3000);
    });
    this.send({ type: "answer", to: from, sdp: pc.localDescription.sdp });
    this.answered = true;
    for (const candidate of candidates) this.send({ type: "ice", to: from, candidate });
    $("remote-fingerprint").textContent = fingerprintOf(sdp);
    $("local-fingerprint").textContent = fingerprintOf(pc.localDescription.sdp);
  }

  onTrack(event) {
    if (event.track.kind === "video") {
      $("remote").srcObject = new MediaStream([event.track]);
      return;
    }
    const sink = document.createElement("audio");
    sink.autoplay = true;
    sink.srcObject = new MediaStream([event.track]);
    $("audio-sinks").append(sink);
  }

  onChannel(channel) {
    if (channel.label === "vitals") {
      channel.onmessage = (event) => this.showVital(JSON.parse(event.data));
    } else if (channel.label === "control") {
      this.control = channel;
      channel.onmessage = (event) => this.onControl(JSON.parse(event.data));
      const ready = () => {
        for (const id of ["snapshot", "camera", "stethoscope", "exam-start", "exam-compare-button"]) {
          $(id).disabled = false;
        }
      };
      if (channel.readyState === "open") ready(); else channel.onopen = ready;
    }
  }

  showVital(msg) {
    if (msg.v !== 1 || msg.type !== "measurement") return;
    const m = msg.measurement;
    const show = VITALS[m.kind];
    if (!show) return;
    const [value, unit, extra] = show(m);
    const li = document.createElement("li");
    li.className = "vital";
    li.dataset.kind = m.kind;
    li.dataset.value = value;
    li.dataset.shownAt = String(Date.now());
    const title = document.createElement("div");
    title.textContent = t(`kind_${m.kind}`) + (m.intermediate ? ` ${t("measuring")}` : "");
    const line = document.createElement("div");
    const v = document.createElement("span");
    v.className = "value";
    v.textContent = value;
    const u = document.createElement("span");
    u.className = "unit";
    u.textContent = unit;
    line.append(v, u);
    const meta = document.createElement("div");
    meta.className = "meta";
    const when = new Date(m.measured_at || msg.sent_at);
    const device = m.device ? [m.device.manufacturer, m.device.model].filter(Boolean).join(" ") : "";
    meta.textContent = [extra, when.toLocaleTimeString(i18n.lang), device].filter(Boolean).join(" · ");
    li.append(title, line, meta);
    if (m.status && m.status.length) {
      const flags = document.createElement("div");
      flags.className = "flags";
      flags.textContent = m.status.join(", ");
      li.append(flags);
    }
    $("vitals-list").prepend(li);
  }

  request(op, fields, onProgress) {
    const id = this.nextRequest++;
    return new Promise((resolve, reject) => {
      this.requests.set(id, { resolve, reject, onProgress, chunks: [], response: null });
      this.control.send(JSON.stringify({ id, op, ...fields }));
    });
  }

  async requestJson(op, fields) {
    const answer = await this.request(op, fields || {});
    return JSON.parse(answer.data);
  }

  onControl(msg) {
    const pending = this.requests.get(msg.id);
    if (!pending) return;
    if ("phase" in msg) {  // exam_step progress: what the kiosk shows now
      if (pending.onProgress) pending.onProgress(msg);
      return;
    }
    if ("data" in msg) {  // a chunk: the image first, then the clip's
      pending.chunks[msg.index] = msg.data;
      const response = pending.response;
      const total = response.chunks + (response.clip_chunks || 0);
      if (pending.chunks.filter((c) => c !== undefined).length === total) {
        this.requests.delete(msg.id);
        const clip = response.clip_chunks ? pending.chunks.slice(response.chunks).join("") : null;
        pending.resolve({ ...response, data: pending.chunks.slice(0, response.chunks).join(""), clip });
      }
      return;
    }
    if (!msg.ok) {
      this.requests.delete(msg.id);
      pending.reject(new Error(msg.error));
    } else if (msg.chunks) {
      pending.response = msg;
    } else {
      this.requests.delete(msg.id);
      pending.resolve(msg);
    }
  }

  async snapshot() {
    const shot = await this.request("snapshot", { format: "png" });
    const figure = document.createElement("figure");
    figure.className = "snapshot";
    const img = document.createElement("img");
    img.alt = t("snapshot_alt", { width: shot.width, height: shot.height });
    img.src = `data:${shot.media_type};base64,${shot.data}`;
    const caption = document.createElement("figcaption");
    caption.textContent = `${new Date(shot.captured_at).toLocaleTimeString(i18n.lang)} · ${shot.width}×${shot.height}`;
    figure.append(img, caption);
    $("snapshots").prepend(figure);
  }

  async switchCamera() {
    const next = this.camera === "room" ? "exam" : "room";
    await this.request("switch_camera", { camera: next });
    this.camera = next;
    $("camera").textContent = t(next === "room" ? "show_exam_camera" : "show_room_camera");
  }

  async toggleStethoscope() {
    await this.request("stethoscope", { on: !this.stethoscopeOn });
    this.stethoscopeOn = !this.stethoscopeOn;
    $("stethoscope").textContent = t(this.stethoscopeOn ? "stop_stethoscope" : "start_stethoscope");
  }

  end() {
    this.ended = true;
    this.send({ type: "end" });
    if (this.pc) this.pc.close();
    if (this.sfu) this.sfu.close();
  }
}

// The health-apartment daily summaries (telemedroom.monitoring.summary_app), when the
// server mounts them next to the console at /summary/: a 401 means "there, sign in".
fetch("../summary/", { method: "HEAD" })
  .then((response) => { if (response.status !== 404) $("summaries").hidden = false; })
  .catch(() => {});

const params = new URLSearchParams(location.hash.slice(1));
loadTexts(params.get("lang")).finally(() => {
  document.body.dataset.lang = i18n.lang;  // ready: the page speaks its language
  const token = params.get("token");
  if (!token) {
    $("status").textContent = t("no_token");
  } else {
    window.telemedroomConsole = new Console(token, {
      relayOnly: params.get("relay") === "1",
      lang: i18n.lang,
    });
    window.telemedroomConsole.start();
  }
});
