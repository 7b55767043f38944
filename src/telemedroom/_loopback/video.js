// The loopback WebRTC connection of a patient's page to its own server (POST webrtc): the
// self-view, the far side's video and its voice. Shared by the room's kiosk and the
// apartment's screen; each page says which elements show what and when to ask again.
"use strict";

// ids: { self, far, voice } element ids; onChange(): render again;
// askAgain(tracks): whether an answer without the far side's tracks should be retried
// (admitted, but the physician's video has not arrived yet).
window.loopbackVideo = ({ ids, onChange, askAgain }) => {
  const $ = (id) => document.getElementById(id);
  const RETRY_SECONDS = [1, 1, 2, 3, 5, 8, 13];
  const line = {
    pc: null, generation: 0, retry: null,
    state: "off",          // off | connecting | on | unavailable
    audioBlocked: false,   // the browser refused to play the voice without a tap
  };

  function close(blank = true) {
    clearTimeout(line.retry);
    line.generation += 1;
    if (line.pc) line.pc.close();
    line.pc = null;
    // a new connection replaces the pictures when its tracks arrive: no blank in between
    if (blank) {
      for (const id of [ids.self, ids.far, ids.voice]) $(id).srcObject = null;
      line.audioBlocked = false;
    }
    line.state = "off";
  }

  function gathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") resolve();
      else pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") resolve();
      });
    });
  }

  // The voice must be heard: the page's browser is started with autoplay allowed
  // (docs/kiosk.md); where it is not, play() is refused and the page asks for a tap.
  function playVoice() {
    $(ids.voice).play().then(
      () => { line.audioBlocked = false; onChange(); },
      (error) => { line.audioBlocked = Boolean(error && error.name === "NotAllowedError"); onChange(); },
    );
  }

  async function connect(attempt = 0) {
    // The previous connection keeps playing until this one's tracks have replaced its
    // pictures and voice: closing it first would end the voice for a moment each retry.
    clearTimeout(line.retry);
    line.generation += 1;
    const previous = line.pc;
    const generation = line.generation;
    const pc = new RTCPeerConnection();
    line.pc = pc;
    line.state = "connecting";
    // m-line 1: the self-view, m-line 2: the far side, m-line 3: its voice
    // (the order the server fills them in)
    const slots = [
      [pc.addTransceiver("video", { direction: "recvonly" }), ids.self],
      [pc.addTransceiver("video", { direction: "recvonly" }), ids.far],
      [pc.addTransceiver("audio", { direction: "recvonly" }), ids.voice],
    ];
    pc.addEventListener("track", (event) => {
      const slot = slots.find(([transceiver]) => transceiver === event.transceiver);
      if (!slot) return;
      const element = $(slot[1]);
      element.srcObject = new MediaStream([event.track]);
      if (slot[1] === ids.voice) playVoice();
      else element.play().catch(() => {});
    });
    const retire = () => { if (previous && previous !== line.pc) previous.close(); };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      const response = await fetch("webrtc", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }),
      });
      if (generation !== line.generation) { pc.close(); retire(); return; }
      if (!response.ok) throw new Error(`webrtc ${response.status}`);
      const answer = await response.json();
      await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
      retire();
      line.state = "on";
      // admission comes before the far side's video does: ask again, less and less often
      const delay = RETRY_SECONDS[attempt];
      if (delay && askAgain(answer.tracks)) {
        line.retry = setTimeout(() => connect(attempt + 1), delay * 1000);
      }
    } catch {
      retire();
      if (generation === line.generation) line.state = "unavailable";
      else pc.close();
    }
    onChange();
  }

  return {
    connect,
    close,
    playVoice,
    get open() { return line.pc !== null; },
    get state() { return line.state; },
    get audioBlocked() { return line.audioBlocked; },
  };
};
