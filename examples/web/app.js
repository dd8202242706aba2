// rtcgate example page: joins a room of the embedded signalling server
// (docs/signalling.md) and builds a full mesh of RTCPeerConnections, one per
// remote member, with audio/video and a "chat" data channel.
//
// Plain browser JavaScript, no build step and no external resources.
// Test hooks live on `window.rtcgate` (see docs/browser.md).
'use strict';

(() => {
  const PROTOCOL_VERSION = 1;
  const PING_INTERVAL_MS = 25000;
  const MAX_MESSAGES_KEPT = 500;
  const STUCK_MS = 5000;

  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const ui = {
    form: $('join-form'), room: $('room'), name: $('name'), token: $('token'),
    join: $('join'), leave: $('leave'), status: $('status'), errors: $('errors'),
    videos: $('videos'), localTile: $('local-tile'), localVideo: $('local-video'), localName: $('local-name'),
    localMedia: $('local-media'), messages: $('messages'), chatForm: $('chat-form'),
    chatInput: $('chat-input'), chatSend: $('chat-send'), remoteTile: $('remote-tile'),
  };

  // ---- session state -------------------------------------------------------

  /** @type {WebSocket|null} */
  let ws = null;
  /** @type {MediaStream|null} */
  let localStream = null;
  let pingTimer = null;
  let pingId = 0;
  let session = 0; // bumped on every join/leave so stale async work can bail out

  const app = {
    signalling: 'idle', // idle | connecting | joining | joined | closed
    selfId: null,
    room: null,
    name: null,
    media: null, // which local media we got: "audio+video", "video", "audio", "none"
    members: new Map(), // id -> {id, name}
    peers: new Map(), // id -> Peer
    errors: [], // {code, message, fatal}
    chat: [], // {from, name, text, mine}
  };

  // How long the polite side of a new pair waits for the other side's offer
  // before it offers itself; `?polite_delay_ms=` overrides.
  const politeDelayMs = Number(params.get('polite_delay_ms') ?? 1000) || 0;

  function wsUrl() {
    if (params.get('ws')) return params.get('ws');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws`;
  }

  // Optional sending codec and layering: `?vcodec=VP9` (or VP8, AV1, H264),
  // `&vprofile=42e01f` (H.264 profile-level-id, or VP9 profile-id), and
  // `&svc=L3T3_KEY` (a scalabilityMode); the browser's defaults otherwise.
  // `&simulcast=1` sends three simulcast encodings with rids q/h/f (a quarter,
  // half and full resolution; pair it with `&video=1280x720`).
  const videoCodec = params.get('vcodec');
  const videoProfile = params.get('vprofile');
  const scalabilityMode = params.get('svc');
  const simulcast = params.get('simulcast') === '1';

  /** The browser's send codecs ordered by `?vcodec=`/`?vprofile=` (RTX etc. kept after). */
  function preferredCodecs() {
    const caps = RTCRtpSender.getCapabilities('video');
    if (!caps || !videoCodec) return null;
    const wanted = (c) => {
      if (c.mimeType.toLowerCase() !== `video/${videoCodec.toLowerCase()}`) return false;
      if (!videoProfile) return true;
      const fmtp = c.sdpFmtpLine || '';
      return fmtp.includes(`profile-level-id=${videoProfile}`) || fmtp.includes(`profile-id=${videoProfile}`);
    };
    const first = caps.codecs.filter(wanted);
    if (first.length === 0) {
      console.warn(`rtcgate: no send codec matches vcodec=${videoCodec} vprofile=${videoProfile}`);
      return null;
    }
    const helpers = caps.codecs.filter((c) => /\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType));
    return [...first, ...helpers];
  }

  function iceServers() {
    // Optional `?ice=stun:host:3478,turn:...` (no credentials); none by default.
    const list = (params.get('ice') || '').split(',').map((s) => s.trim()).filter(Boolean);
    return list.map((urls) => ({ urls }));
  }

  // ---- UI helpers ----------------------------------------------------------

  function setStatus(text, kind = '') {
    ui.status.textContent = text;
    ui.status.className = `status ${kind}`;
  }

  function showError(code, message, fatal = false) {
    app.errors.push({ code, message, fatal });
    const li = document.createElement('li');
    const c = document.createElement('code');
    c.textContent = code;
    li.append(c, ` ${message}${fatal ? ' (connection closed by server)' : ''}`);
    ui.errors.append(li);
    console.warn(`rtcgate: ${code}: ${message}`);
  }

  function addChatLine(entry, system = false) {
    if (!system) {
      app.chat.push(entry);
      if (app.chat.length > MAX_MESSAGES_KEPT) app.chat.shift();
    }
    const li = document.createElement('li');
    if (system) {
      li.className = 'system';
      li.textContent = entry.text;
    } else {
      if (entry.mine) li.className = 'mine';
      const from = document.createElement('span');
      from.className = 'from';
      from.textContent = `${entry.name}:`;
      li.append(from, entry.text);
    }
    ui.messages.append(li);
    while (ui.messages.children.length > MAX_MESSAGES_KEPT) ui.messages.firstElementChild.remove();
    ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  function updateControls() {
    const active = app.signalling !== 'idle' && app.signalling !== 'closed';
    ui.join.disabled = active;
    ui.leave.disabled = !active;
    for (const el of [ui.room, ui.name, ui.token]) el.disabled = active;
    const open = openChannels().length > 0;
    ui.chatInput.disabled = !open;
    ui.chatSend.disabled = !open;
  }

  function playVideo(video, tile) {
    const p = video.play();
    if (!p) return;
    p.catch((err) => {
      if (err.name !== 'NotAllowedError' || video.muted) return;
      // Autoplay with sound was refused (no user gesture yet): play muted and
      // offer a button to unmute.
      video.muted = true;
      video.play().catch(() => {});
      if (tile && !tile.querySelector('button.unmute')) {
        const b = document.createElement('button');
        b.className = 'unmute';
        b.type = 'button';
        b.textContent = 'Unmute';
        b.onclick = () => { video.muted = false; video.play().catch(() => {}); b.remove(); };
        tile.append(b);
      }
    });
  }

  // ---- signalling ----------------------------------------------------------

  function sendSignal(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(msg));
      return true;
    }
    return false;
  }

  async function join(opts = {}) {
    const room = (opts.room ?? ui.room.value).trim();
    const name = (opts.name ?? ui.name.value).trim();
    const token = (opts.token ?? ui.token.value) || '';
    if (!room || !name) {
      setStatus('Room and name are required.', 'bad');
      return;
    }
    if (app.signalling !== 'idle' && app.signalling !== 'closed') return;
    const mySession = ++session;
    app.room = room;
    app.name = name;
    app.errors.length = 0;
    ui.errors.replaceChildren();
    ui.localName.textContent = name;
    app.signalling = 'connecting';
    updateControls();

    setStatus('Getting camera and microphone…');
    await startLocalMedia();
    if (mySession !== session) return;

    const url = wsUrl();
    setStatus(`Connecting to ${url}…`);
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (err) {
      showError('connection', `cannot open ${url}: ${err.message}`, true);
      closeSession('closed');
      return;
    }
    ws = socket;
    socket.onopen = () => {
      if (ws !== socket) return;
      app.signalling = 'joining';
      const msg = { type: 'join', version: PROTOCOL_VERSION, room, name };
      if (token) msg.token = token;
      sendSignal(msg);
      pingTimer = setInterval(() => sendSignal({ type: 'ping', id: ++pingId }), PING_INTERVAL_MS);
    };
    socket.onmessage = (ev) => {
      if (ws !== socket) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (err) {
        console.warn('rtcgate: unparsable signalling frame', ev.data);
        return;
      }
      onSignal(msg);
    };
    socket.onerror = () => {
      if (ws !== socket) return;
      console.warn(`rtcgate: WebSocket error on ${url}`);
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      const was = app.signalling;
      ws = null;
      if (was === 'connecting' || was === 'joining') {
        if (!app.errors.some((e) => e.fatal)) {
          showError('connection', `signalling connection to ${url} closed before joining (code ${ev.code})`, true);
        }
      } else if (was === 'joined') {
        showError('connection', `signalling connection closed (code ${ev.code}${ev.reason ? `: ${ev.reason}` : ''})`, true);
      }
      closeSession('closed');
    };
  }

  function leave() {
    if (app.signalling === 'idle' || app.signalling === 'closed') return;
    sendSignal({ type: 'leave' });
    const socket = ws;
    ws = null;
    if (socket) {
      // Give the leave frame a moment to go out, then close.
      setTimeout(() => socket.close(1000, 'leave'), 100);
    }
    closeSession('idle');
    setStatus('Left the room.');
  }

  function closeSession(next) {
    session++;
    clearInterval(pingTimer);
    pingTimer = null;
    for (const peer of [...app.peers.values()]) closePeer(peer);
    app.members.clear();
    if (localStream) {
      for (const t of localStream.getTracks()) t.stop();
      localStream = null;
    }
    ui.localVideo.srcObject = null;
    ui.localTile.hidden = true;
    ui.localMedia.textContent = '';
    app.media = null;
    app.selfId = null;
    app.signalling = next;
    if (next === 'closed') setStatus('Disconnected.', 'bad');
    updateControls();
  }

  function onSignal(msg) {
    switch (msg.type) {
      case 'welcome': {
        app.signalling = 'joined';
        app.selfId = msg.id;
        setStatus(`Joined room “${msg.room}” as ${app.name} (id ${msg.id}); sending ${app.media === 'none' ? 'nothing (receive-only)' : app.media}.`, 'ok');
        addChatLine({ text: `joined room ${msg.room}` }, true);
        updateControls();
        for (const m of msg.members || []) addMember(m);
        break;
      }
      case 'member-joined':
        addMember(msg.member);
        addChatLine({ text: `${msg.member.name} joined` }, true);
        break;
      case 'member-left': {
        const m = app.members.get(msg.id);
        app.members.delete(msg.id);
        const peer = app.peers.get(msg.id);
        if (peer) closePeer(peer);
        if (m) addChatLine({ text: `${m.name} left` }, true);
        break;
      }
      case 'offer':
      case 'answer': {
        const peer = peerFor(msg.from, msg.type === 'offer');
        if (!peer) break;
        enqueue(peer, () => onRemoteDescription(peer, { type: msg.type, sdp: msg.sdp }));
        break;
      }
      case 'candidate': {
        const peer = peerFor(msg.from, false);
        if (!peer) break;
        enqueue(peer, () => onRemoteCandidate(peer, msg.candidate));
        break;
      }
      case 'pong':
        break;
      case 'error':
        showError(msg.code || 'error', msg.message || '', !!msg.fatal);
        if (app.signalling === 'joining') {
          // The server refused our join (wrong token, room full, …). It keeps
          // the connection open for another try; we close it and let the user
          // fix the form.
          const socket = ws;
          ws = null;
          if (socket) socket.close(1000, 'join refused');
          closeSession('closed');
          setStatus(`Join refused: ${msg.code}.`, 'bad');
        }
        break;
      default:
        console.warn('rtcgate: unknown signalling message', msg);
    }
  }

  function addMember(m) {
    if (!m || !m.id || m.id === app.selfId) return;
    app.members.set(m.id, { id: m.id, name: m.name });
    const peer = app.peers.get(m.id);
    if (peer) {
      peer.name = m.name;
      peer.tile.querySelector('.peer-name').textContent = m.name;
    } else {
      createPeer(m.id, m.name);
    }
  }

  /**
   * The peer a message came from. An offer from a member we have no
   * connection for creates one; stray answers and candidates (e.g. from a
   * member that just left) are dropped.
   */
  function peerFor(id, create) {
    if (app.signalling !== 'joined' || !id || id === app.selfId) return null;
    const peer = app.peers.get(id);
    if (peer || !create) return peer || null;
    const name = app.members.get(id)?.name ?? id;
    return createPeer(id, name);
  }

  // ---- local media ---------------------------------------------------------

  async function startLocalMedia() {
    localStream = null;
    const md = navigator.mediaDevices;
    if (params.get('media') === 'receive') {
      // `?media=receive`: a viewer, sending nothing.
    } else if (!md || !md.getUserMedia) {
      // Not a secure context (plain http on a non-localhost address) or no support.
      console.warn('rtcgate: getUserMedia unavailable (needs https or localhost); receive-only');
    } else {
      // `?video=1280x720` asks the camera for that size.
      const [width, height] = (params.get('video') || '').split('x').map(Number);
      const video = width > 0 && height > 0 ? { width: { exact: width }, height: { exact: height } } : true;
      for (const constraints of [{ audio: true, video }, { video }, { audio: true }]) {
        try {
          localStream = await md.getUserMedia(constraints);
          break;
        } catch (err) {
          console.warn(`rtcgate: getUserMedia(${JSON.stringify(constraints)}) failed: ${err.name}`);
        }
      }
    }
    const kinds = localStream ? localStream.getTracks().map((t) => t.kind) : [];
    const hasA = kinds.includes('audio');
    const hasV = kinds.includes('video');
    app.media = hasA && hasV ? 'audio+video' : hasV ? 'video' : hasA ? 'audio' : 'none';
    ui.localMedia.textContent = app.media === 'none' ? 'receive-only' : app.media;
    ui.localVideo.srcObject = localStream;
    ui.localTile.hidden = !localStream || !hasV;
    if (localStream) playVideo(ui.localVideo);
  }

  // ---- peers ---------------------------------------------------------------

  function createPeer(id, name) {
    const pc = new RTCPeerConnection({ iceServers: iceServers() });
    const tile = ui.remoteTile.content.firstElementChild.cloneNode(true);
    tile.dataset.peer = id;
    tile.querySelector('.peer-name').textContent = name;
    ui.videos.append(tile);

    const peer = {
      id,
      name,
      pc,
      polite: app.selfId > id, // the greater id is polite
      makingOffer: false,
      offering: Promise.resolve(),
      ignoreOffer: false,
      settingRemoteAnswer: false,
      queue: Promise.resolve(),
      pendingCandidates: [],
      channels: new Set(),
      localChannel: null,
      received: [],
      binaryReceived: 0,
      remoteStream: new MediaStream(),
      tile,
      video: tile.querySelector('video'),
      closed: false,
      createdAt: Date.now(),
      offerTimer: null,
      watchdog: null,
      stateSince: Date.now(),
      negotiatedAt: 0,
    };
    app.peers.set(id, peer);
    peer.video.srcObject = peer.remoteStream;

    pc.onnegotiationneeded = () => {
      // The polite side holds back its first offer for a moment: the impolite
      // side usually offers at once, and answering it avoids a glare rollback
      // (a rollback right after setLocalDescription(offer) sometimes leaves
      // Chromium's ICE gathering stuck). Later renegotiations go out at once.
      const wait = peer.polite && !pc.remoteDescription ? politeDelayMs - (Date.now() - peer.createdAt) : 0;
      if (wait > 0) {
        clearTimeout(peer.offerTimer);
        peer.offerTimer = setTimeout(() => {
          if (!peer.closed && !pc.remoteDescription && pc.signalingState === 'stable') makeOffer(peer);
        }, wait);
        return;
      }
      makeOffer(peer);
    };
    pc.onicecandidate = ({ candidate }) => {
      console.debug(`rtcgate: local candidate for ${id}: ${candidate ? candidate.candidate || '(empty)' : '(end)'}`);
      if (candidate === null) {
        sendSignal({ type: 'candidate', to: id, candidate: { candidate: '' } });
      } else if (candidate.candidate) {
        sendSignal({ type: 'candidate', to: id, candidate: candidateJson(candidate) });
      }
    };
    pc.ontrack = ({ track }) => {
      peer.remoteStream.addTrack(track);
      track.addEventListener('ended', () => peer.remoteStream.removeTrack(track));
      playVideo(peer.video, tile);
    };
    pc.ondatachannel = ({ channel }) => setupChannel(peer, channel);
    const showState = () => {
      const badge = tile.querySelector('.peer-state');
      badge.textContent = pc.connectionState;
      badge.className = `badge peer-state ${pc.connectionState}`;
      peer.stateSince = Date.now();
    };
    // Recovery: ICE restart when the connection failed, or when negotiation
    // finished but ICE never started (see the note in onnegotiationneeded).
    // The impolite side restarts first, since its offer wins any collision.
    peer.watchdog = setInterval(() => {
      if (peer.closed || pc.signalingState !== 'stable' || !pc.remoteDescription) return;
      const since = Date.now() - Math.max(peer.stateSince, peer.negotiatedAt);
      const patience = (peer.polite ? 2 : 1) * STUCK_MS;
      const stuck = pc.connectionState === 'new' || pc.connectionState === 'failed';
      if (stuck && since > patience) {
        console.warn(`rtcgate: connection to ${id} is ${pc.connectionState} after negotiation; restarting ICE`);
        peer.negotiatedAt = Date.now();
        pc.restartIce();
      }
    }, 1000);
    pc.onconnectionstatechange = showState;
    pc.onicegatheringstatechange = () => console.info(`rtcgate: ${id} ICE gathering ${pc.iceGatheringState}`);
    pc.onsignalingstatechange = () => console.info(`rtcgate: ${id} signaling ${pc.signalingState}`);
    pc.oniceconnectionstatechange = () => console.info(`rtcgate: ${id} ICE ${pc.iceConnectionState}`);
    showState();

    if (localStream) {
      for (const track of localStream.getTracks()) {
        if (track.kind === 'video' && (videoCodec || scalabilityMode || simulcast)) {
          const init = { direction: 'sendrecv', streams: [localStream] };
          if (scalabilityMode) init.sendEncodings = [{ scalabilityMode }];
          if (simulcast) {
            init.sendEncodings = [
              { rid: 'q', scaleResolutionDownBy: 4 },
              { rid: 'h', scaleResolutionDownBy: 2 },
              { rid: 'f' },
            ];
          }
          const transceiver = pc.addTransceiver(track, init);
          const codecs = preferredCodecs();
          if (codecs) transceiver.setCodecPreferences(codecs);
        } else {
          pc.addTrack(track, localStream);
        }
      }
    }
    for (const kind of ['audio', 'video']) {
      if (!localStream || localStream.getTracks().every((t) => t.kind !== kind)) {
        pc.addTransceiver(kind, { direction: 'recvonly' });
      }
    }
    peer.localChannel = pc.createDataChannel('chat', { ordered: true });
    setupChannel(peer, peer.localChannel);
    return peer;
  }

  function makeOffer(peer) {
    peer.offering = doMakeOffer(peer);
    return peer.offering;
  }

  /** Resolves when `cond()` holds (checked on each `event` of `target`) or after `ms`. */
  function waitFor(target, event, cond, ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        target.removeEventListener(event, check);
        resolve();
      };
      const check = () => { if (cond()) done(); };
      const timer = setTimeout(done, ms);
      target.addEventListener(event, check);
      check();
    });
  }

  async function doMakeOffer(peer) {
    const pc = peer.pc;
    try {
      peer.makingOffer = true;
      await pc.setLocalDescription();
      console.info(`rtcgate: sending ${pc.localDescription.type} to ${peer.id}`);
      sendSignal({ type: pc.localDescription.type, to: peer.id, sdp: pc.localDescription.sdp });
    } catch (err) {
      if (!peer.closed) console.error(`rtcgate: creating offer for ${peer.id} failed:`, err);
    } finally {
      peer.makingOffer = false;
    }
  }

  function candidateJson(c) {
    const j = c.toJSON();
    const out = { candidate: j.candidate };
    if (j.sdpMid != null) out.sdpMid = j.sdpMid;
    if (j.sdpMLineIndex != null) out.sdpMLineIndex = j.sdpMLineIndex;
    if (j.usernameFragment != null) out.usernameFragment = j.usernameFragment;
    return out;
  }

  function enqueue(peer, fn) {
    // Process one peer's signalling messages strictly in order.
    peer.queue = peer.queue.then(fn).catch((err) => {
      if (!peer.closed) console.error(`rtcgate: signalling with ${peer.id} failed:`, err);
    });
  }

  // MDN "perfect negotiation".
  async function onRemoteDescription(peer, description) {
    if (peer.closed) return;
    const pc = peer.pc;
    const readyForOffer = !peer.makingOffer && (pc.signalingState === 'stable' || peer.settingRemoteAnswer);
    const offerCollision = description.type === 'offer' && !readyForOffer;
    peer.ignoreOffer = !peer.polite && offerCollision;
    if (peer.ignoreOffer) {
      console.info(`rtcgate: ignoring colliding offer from ${peer.id} (impolite)`);
      return;
    }
    if (offerCollision) {
      // We are polite and roll back our own offer. Let that offer's
      // setLocalDescription finish and its ICE gathering settle first: a
      // rollback in the middle of gathering sometimes leaves Chromium's
      // gathering stuck for good (no candidates, even after an ICE restart).
      await peer.offering;
      if (pc.signalingState === 'have-local-offer' && pc.iceGatheringState !== 'complete') {
        await waitFor(pc, 'icegatheringstatechange', () => pc.iceGatheringState === 'complete', 1500);
      }
      console.info(`rtcgate: rolling back our offer to accept the one from ${peer.id} (polite)`);
    }
    peer.settingRemoteAnswer = description.type === 'answer';
    try {
      await pc.setRemoteDescription(description); // the polite side rolls back implicitly
    } finally {
      peer.settingRemoteAnswer = false;
    }
    await flushCandidates(peer);
    if (description.type === 'offer') {
      await pc.setLocalDescription();
      console.info(`rtcgate: sending answer to ${peer.id}`);
      sendSignal({ type: 'answer', to: peer.id, sdp: pc.localDescription.sdp });
      if (offerCollision) recreateLostChannel(peer);
    }
    peer.negotiatedAt = Date.now();
  }

  // Chromium 156: a data channel created before our offer was rolled back is
  // never offered again (later offers carry no m=application section, and
  // negotiationneeded fires forever). If the rollback left no SCTP transport,
  // replace the stranded channel; the new one is negotiated normally.
  function recreateLostChannel(peer) {
    const pc = peer.pc;
    if (pc.sctp || !peer.localChannel || peer.localChannel.readyState !== 'connecting') return;
    console.info(`rtcgate: re-creating the chat channel with ${peer.id} after a rollback`);
    peer.localChannel.onclose = null;
    peer.localChannel.close();
    peer.localChannel = pc.createDataChannel('chat', { ordered: true });
    setupChannel(peer, peer.localChannel);
  }

  async function onRemoteCandidate(peer, candidate) {
    if (peer.closed || !candidate) return;
    console.debug(`rtcgate: remote candidate from ${peer.id}: ${candidate.candidate || '(end)'}${peer.pc.remoteDescription ? '' : ' (queued)'}`);
    if (!peer.pc.remoteDescription) {
      peer.pendingCandidates.push(candidate);
      return;
    }
    await addCandidate(peer, candidate);
  }

  async function flushCandidates(peer) {
    const list = peer.pendingCandidates.splice(0);
    for (const c of list) await addCandidate(peer, c);
  }

  async function addCandidate(peer, candidate) {
    try {
      await peer.pc.addIceCandidate(candidate);
    } catch (err) {
      // Candidates of an offer we ignored, or end-of-candidates markers, may fail.
      if (!peer.ignoreOffer && candidate.candidate && !peer.closed) {
        console.warn(`rtcgate: addIceCandidate from ${peer.id} failed: ${err.message}`);
      }
    }
  }

  function closePeer(peer) {
    if (peer.closed) return;
    peer.closed = true;
    clearTimeout(peer.offerTimer);
    clearInterval(peer.watchdog);
    for (const ch of peer.channels) {
      try { ch.close(); } catch (_) { /* already closed */ }
    }
    peer.pc.close();
    for (const t of peer.remoteStream.getTracks()) t.stop();
    peer.video.srcObject = null;
    peer.tile.remove();
    app.peers.delete(peer.id);
    updateControls();
  }

  // ---- data channels -------------------------------------------------------

  function setupChannel(peer, channel) {
    peer.channels.add(channel);
    channel.binaryType = 'arraybuffer';
    channel.onopen = updateControls;
    channel.onclose = () => {
      peer.channels.delete(channel);
      updateControls();
    };
    channel.onmessage = ({ data }) => {
      if (typeof data !== 'string') {
        peer.binaryReceived++;
        addChatLine({ from: peer.id, name: peer.name, text: `[binary, ${data.byteLength} bytes]` });
        return;
      }
      peer.received.push(data);
      if (peer.received.length > MAX_MESSAGES_KEPT) peer.received.shift();
      addChatLine({ from: peer.id, name: peer.name, text: data });
      if (data.startsWith('echo:') && channel.readyState === 'open') {
        const reply = `echoed:${data.slice('echo:'.length)}`;
        channel.send(reply);
        addChatLine({ from: app.selfId, name: `${app.name || 'me'} (auto)`, text: reply, mine: true });
      }
    };
    if (channel.readyState === 'open') updateControls();
  }

  /** One open channel per peer: ours if open, otherwise one the remote opened. */
  function openChannels() {
    const out = [];
    for (const peer of app.peers.values()) {
      if (peer.closed) continue;
      let ch = peer.localChannel && peer.localChannel.readyState === 'open' ? peer.localChannel : null;
      if (!ch) ch = [...peer.channels].find((c) => c.readyState === 'open') || null;
      if (ch) out.push(ch);
    }
    return out;
  }

  function sendText(text) {
    const channels = openChannels();
    for (const ch of channels) ch.send(text);
    if (channels.length > 0) addChatLine({ from: app.selfId, name: app.name || 'me', text, mine: true });
    return channels.length;
  }

  // ---- stats ---------------------------------------------------------------

  async function peerStats(peer) {
    const s = {
      inboundVideoBytes: 0, inboundAudioBytes: 0, framesDecoded: 0, framesReceived: 0,
      outboundVideoBytes: 0, outboundAudioBytes: 0, packetsLost: 0, packetsReceived: 0,
      outboundVideoLayers: [],
      videoCodec: null, videoFmtp: null, audioCodec: null, frameWidth: 0, frameHeight: 0, candidatePair: null,
      outboundVideo: null,
    };
    const report = await peer.pc.getStats();
    const byId = new Map();
    report.forEach((r) => byId.set(r.id, r));
    for (const r of byId.values()) {
      if (r.type === 'inbound-rtp') {
        const codec = r.codecId && byId.get(r.codecId);
        if (r.kind === 'video') {
          s.inboundVideoBytes += r.bytesReceived || 0;
          s.framesDecoded += r.framesDecoded || 0;
          s.framesReceived += r.framesReceived || 0;
          s.frameWidth = Math.max(s.frameWidth, r.frameWidth || 0);
          s.frameHeight = Math.max(s.frameHeight, r.frameHeight || 0);
          if (codec) {
            s.videoCodec = codec.mimeType;
            s.videoFmtp = codec.sdpFmtpLine || '';
          }
        } else if (r.kind === 'audio') {
          s.inboundAudioBytes += r.bytesReceived || 0;
          if (codec) s.audioCodec = codec.mimeType;
        }
        s.packetsLost += r.packetsLost || 0;
        s.packetsReceived += r.packetsReceived || 0;
      } else if (r.type === 'outbound-rtp') {
        if (r.kind === 'video') {
          s.outboundVideoBytes += r.bytesSent || 0;
          s.outboundVideoLayers.push({
            rid: r.rid || null, frameWidth: r.frameWidth || 0, framesSent: r.framesSent || 0,
            active: r.active !== false,
          });
          const codec = r.codecId && byId.get(r.codecId);
          s.outboundVideo = {
            codec: codec ? codec.mimeType : null,
            sdpFmtpLine: codec ? codec.sdpFmtpLine || '' : '',
            scalabilityMode: r.scalabilityMode || null,
            encoderImplementation: r.encoderImplementation || null,
            framesEncoded: r.framesEncoded || 0,
            framesSent: r.framesSent || 0,
            keyFramesEncoded: r.keyFramesEncoded || 0,
            frameWidth: r.frameWidth || 0,
            frameHeight: r.frameHeight || 0,
            pliCount: r.pliCount || 0,
            qualityLimitationReason: r.qualityLimitationReason || null,
          };
        } else if (r.kind === 'audio') s.outboundAudioBytes += r.bytesSent || 0;
      } else if (r.type === 'transport' && r.selectedCandidatePairId) {
        const pair = byId.get(r.selectedCandidatePairId);
        if (pair) {
          const l = byId.get(pair.localCandidateId);
          const rc = byId.get(pair.remoteCandidateId);
          const fmt = (c) => (c ? `${c.address ?? c.ip}:${c.port} ${c.protocol} ${c.candidateType}` : null);
          s.candidatePair = {
            local: fmt(l), remote: fmt(rc), state: pair.state,
            currentRoundTripTime: pair.currentRoundTripTime ?? null,
          };
        }
      }
    }
    return s;
  }

  // ---- test hooks ----------------------------------------------------------

  window.rtcgate = {
    state() {
      const peers = {};
      for (const p of app.peers.values()) {
        peers[p.id] = {
          name: p.name,
          polite: p.polite,
          connectionState: p.pc.connectionState,
          iceConnectionState: p.pc.iceConnectionState,
          signalingState: p.pc.signalingState,
          dataChannelOpen: [...p.channels].some((c) => c.readyState === 'open'),
          channels: [...p.channels].map((c) => ({ label: c.label, id: c.id, readyState: c.readyState })),
          remoteTracks: p.remoteStream.getTracks().map((t) => t.kind),
          received: [...p.received],
          binaryReceived: p.binaryReceived,
        };
      }
      return {
        selfId: app.selfId,
        joined: app.signalling === 'joined',
        signalling: app.signalling,
        room: app.room,
        name: app.name,
        media: app.media,
        members: [...app.members.values()].map((m) => ({ id: m.id, name: m.name })),
        peers,
        errors: app.errors.map((e) => ({ ...e })),
      };
    },
    async stats() {
      const out = {};
      for (const p of [...app.peers.values()]) {
        try {
          out[p.id] = await peerStats(p);
        } catch (err) {
          out[p.id] = { error: String(err) };
        }
      }
      return out;
    },
    send: sendText,
    join,
    leave,
  };

  // ---- wiring --------------------------------------------------------------

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    join();
  });
  ui.leave.addEventListener('click', leave);
  ui.chatForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const text = ui.chatInput.value;
    if (!text) return;
    if (sendText(text) > 0) ui.chatInput.value = '';
  });
  window.addEventListener('pagehide', () => {
    if (app.signalling === 'joined') sendSignal({ type: 'leave' });
  });

  ui.localTile.hidden = true;
  ui.room.value = params.get('room') || '';
  ui.name.value = params.get('name') || '';
  ui.token.value = params.get('token') || '';
  updateControls();
  if (params.get('autojoin') === '1' && ui.room.value && ui.name.value) join();
})();
