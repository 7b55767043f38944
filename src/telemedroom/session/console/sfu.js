// telemedroom console, multi-party visits: the Janus VideoRoom over Janus's HTTP API.
// Plain JavaScript, no build step, no third-party code (no janus.js): the few requests a
// participant needs, as docs/sfu.md describes them. The signaling server sends the grant
// (Janus URL, a Janus token of this participant, its feed id, the rooms its role may join);
// Janus refuses the token anywhere else.
"use strict";

class SfuView {
  constructor(owner, grant) {
    this.owner = owner;            // the Console: roster, local media, status, vitals
    this.grant = grant;
    this.session = null;
    this.pending = new Map();      // transaction -> resolve
    this.handles = new Map();      // handle id -> { room, onEvent }
    this.privateIds = {};          // room kind -> private_id (require_pvtid)
    this.subscribed = new Map();   // `${kind}:${feed}` -> { handle, pc }
    this.pcs = [];
    this.closed = false;
  }

  transaction() {
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  async post(path, body) {
    const response = await fetch(`${this.grant.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ transaction: this.transaction(), ...body, token: this.grant.token }),
    });
    const reply = await response.json();
    if (reply.janus === "error") throw new Error(`Janus ${reply.error.code}: ${reply.error.reason}`);
    return reply;
  }

  // An asynchronous plugin request: its answer is an event with the same transaction.
  message(handle, body, jsep) {
    const transaction = this.transaction();
    const answered = new Promise((resolve) => this.pending.set(transaction, resolve));
    const request = { janus: "message", transaction, body };
    if (jsep) request.jsep = jsep;
    return this.post(`/${this.session}/${handle}`, request).then(async (reply) => {
      const event = reply.janus === "ack" ? await answered : reply;
      this.pending.delete(transaction);
      const data = (event.plugindata && event.plugindata.data) || {};
      if (data.error_code) throw new Error(`Janus ${data.error_code}: ${data.error}`);
      return { data, jsep: event.jsep };
    });
  }

  async attach(room, onEvent) {
    const reply = await this.post(`/${this.session}`, { janus: "attach", plugin: "janus.plugin.videoroom" });
    this.handles.set(reply.data.id, { room, onEvent });
    return reply.data.id;
  }

  async start() {
    const created = await this.post("", { janus: "create" });
    this.session = created.data.id;
    this.poll();
    this.keepalive = setInterval(() => this.post(`/${this.session}`, { janus: "keepalive" }).catch(() => {}), 25000);
    for (const room of this.grant.rooms) {
      const handle = await this.attach(room, (data) => this.onRoomEvent(room, data));
      const { data } = await this.message(handle, {
        request: "join", ptype: "publisher", room: room.room, pin: room.pin,
        id: this.grant.feed, display: this.grant.display, token: this.grant.token,
      });
      this.privateIds[room.kind] = data.private_id;
      if (room.kind === "main" && this.owner.local) await this.publish(handle, this.owner.local);
      await this.appeared(room, data.publishers || []);
    }
    document.body.dataset.sfu = "joined";
  }

  async poll() {
    while (!this.closed) {
      let events;
      try {
        const response = await fetch(
          `${this.grant.url}/${this.session}?maxev=10&token=${encodeURIComponent(this.grant.token)}`);
        events = await response.json();
      } catch (err) {
        if (this.closed) return;
        this.gone("the SFU connection was lost");
        return;
      }
      for (const event of Array.isArray(events) ? events : [events]) {
        if (event.janus === "error") {  // the session is gone: removed, or the visit ended
          this.gone("the SFU ended this participant's session");
          return;
        }
        const resolve = this.pending.get(event.transaction);
        if (resolve && (event.janus === "event" || event.janus === "success")) {
          resolve(event);
          continue;
        }
        const handle = this.handles.get(event.sender);
        if (handle && event.janus === "event" && event.plugindata) handle.onEvent(event.plugindata.data);
      }
    }
  }

  gone(why) {
    this.close();
    document.body.dataset.sfu = "gone";
    this.owner.status(why);
  }

  onRoomEvent(room, data) {
    if (data.publishers) this.appeared(room, data.publishers).catch((err) => this.owner.status(`${err}`));
    for (const key of ["unpublished", "leaving", "kicked"]) {
      if (typeof data[key] === "number") this.left(room, data[key]);
    }
    if (data.videoroom === "talking" || data.videoroom === "stopped-talking") {
      const tile = document.querySelector(`#participants-grid figure[data-feed="${data.id}"]`);
      if (tile) tile.dataset.speaking = data.videoroom === "talking" ? "1" : "0";
    }
  }

  async appeared(room, publishers) {
    for (const publisher of publishers) {
      if (publisher.id === this.grant.feed || this.subscribed.has(`${room.kind}:${publisher.id}`)) continue;
      await this.subscribe(room, publisher.id, publisher.display || "");
    }
  }

  left(room, feed) {
    const key = `${room.kind}:${feed}`;
    const entry = this.subscribed.get(key);
    if (!entry) return;
    this.subscribed.delete(key);
    entry.pc.close();
    const tile = document.querySelector(`#participants-grid figure[data-feed="${feed}"][data-room="${room.kind}"]`);
    if (tile) tile.remove();
  }

  config() {
    return { iceServers: this.owner.welcome.ice_servers.map((s) => ({ ...s })) };
  }

  async gathered(pc) {
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
      setTimeout(resolve, 3000);
    });
  }

  async publish(handle, stream) {
    const pc = new RTCPeerConnection(this.config());
    this.pcs.push(pc);
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await this.gathered(pc);
    const { jsep } = await this.message(handle, { request: "publish" },
      { type: "offer", sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription(jsep);
  }

  async subscribe(room, feed, display) {
    const key = `${room.kind}:${feed}`;
    const handle = await this.attach(room, () => {});
    const pc = new RTCPeerConnection(this.config());
    this.subscribed.set(key, { handle, pc });
    const tile = this.tile(room, feed, display);
    pc.ontrack = (event) => this.show(room, display, tile, event.track);
    const { jsep } = await this.message(handle, {
      request: "join", ptype: "subscriber", room: room.room, pin: room.pin,
      private_id: this.privateIds[room.kind], streams: [{ feed }], token: this.grant.token,
    });
    await pc.setRemoteDescription(jsep);
    await pc.setLocalDescription(await pc.createAnswer());
    await this.gathered(pc);
    await this.message(handle, { request: "start" }, { type: "answer", sdp: pc.localDescription.sdp });
  }

  tile(room, feed, display) {
    const person = this.owner.roster.get(display);
    const fig = document.createElement("figure");
    fig.className = "tile";
    fig.dataset.feed = String(feed);
    fig.dataset.room = room.kind;
    fig.dataset.participant = display;
    fig.dataset.role = person ? person.role : "";
    fig.dataset.speaking = "0";
    const caption = document.createElement("figcaption");
    const what = room.kind === "clinical" ? t("clinical_tile") : person ? role(person.role) : "";
    caption.textContent = `${(person && person.name) || display} · ${what}`;
    fig.append(caption);
    $("participants-grid").append(fig);
    return fig;
  }

  show(room, display, tile, track) {
    const person = this.owner.roster.get(display);
    if (track.kind === "video") {
      const video = document.createElement("video");
      video.autoplay = true;
      video.playsInline = true;
      video.muted = true;
      video.srcObject = new MediaStream([track]);
      tile.prepend(video);
      // The room's camera is also the console's main video, as in a one-to-one visit.
      if (room.kind === "main" && person && person.role === "patient") {
        const remote = $("remote");
        remote.srcObject = new MediaStream([track]);
        // A live feed has nothing to pause for: Chromium pauses a muted autoplaying video
        // when the layout around it changes (a participant's tile leaves); play it on.
        remote.onpause = () => { if (!this.closed) remote.play().catch(() => {}); };
      }
      return;
    }
    const sink = document.createElement("audio");
    sink.autoplay = true;
    sink.srcObject = new MediaStream([track]);
    $("audio-sinks").append(sink);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepalive);
    for (const { pc } of this.subscribed.values()) pc.close();
    for (const pc of this.pcs) pc.close();
    this.subscribed.clear();
    if (this.session) this.post(`/${this.session}`, { janus: "destroy" }).catch(() => {});
  }
}

window.SfuView = SfuView;
