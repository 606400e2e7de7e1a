/* ghosts-render chat player: replays conversation.js in sync with the wall clock.
 *
 * Classic script, no modules, no build, no dependencies (works from file://, research/player.md c.1).
 * The wall clock is the master: every tick derives the loop position from Date.now() and the epoch;
 * nothing accumulates, so sleep, throttling and clock jumps simply re-render (c.5, c.6).
 * Generated text is only ever inserted with textContent, never as HTML.
 */
(function () {
  'use strict';

  var LIVE_WINDOW = 1500;     // ms: a message older than this when it appears is backlog (no sound)
  var MAX_WAIT = 30000;       // ms: the longest single timer; plus a watchdog (c.5 timer drift)
  var WATCHDOG = 15000;       // ms
  var BOTTOM_SLACK = 24;      // px: "at the bottom" for autoscroll (d.1 item 8)
  var MAX_HISTORY = 1000;     // messages: most extra history kept while the reader scrolls up
  var SKEW_MIN = 2000;        // ms: Date-header skew below this is noise (1 s header resolution)
  var MUTE_KEY = 'ghosts:muted';

  var $ = function (id) { return document.getElementById(id); };
  var root = document.documentElement;
  var params = new URLSearchParams(location.search);
  var el = {};
  var S = {                   // all mutable state; sizes are bounded by the DOM cap
    lo: 0, hi: -1, loop: null, extra: 0, unseen: 0, paused: false, timer: 0, lastTick: 0,
    skew: 0, offset: 0, skewChecked: false, wantSound: false, unlocked: false, errors: 0,
    lastError: '', visible: 0, breathing: false, lastSound: '', loadedAt: Date.now()
  };
  var D, msgs, roles, cap, duration, epochMs, mode, startPos;

  /* ---------------------------------------------------------------- data and clock */

  function fail(text) {
    root.dataset.player = 'error';
    notice(text, true);
  }

  function notice(text, always) {
    if (!el.notice || (root.classList.contains('kiosk') && !always)) return;
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  function loadData() {
    D = window.GHOSTS_CONVERSATION;
    if (!D || typeof D !== 'object') {
      return 'The conversation is missing: conversation.js was not found next to this page. ' +
        'Rebuild the player with "ghosts-render site" on this folder.';
    }
    if (D.format !== 'ghosts-render/conversation' || typeof D.version !== 'number') {
      return 'conversation.js is not a ghosts-render conversation. Rebuild it with "ghosts-render site".';
    }
    if (D.version > 1) {
      return 'This conversation was written by a newer ghosts-render (format version ' + D.version +
        '). Rebuild the player with that version.';
    }
    msgs = Array.isArray(D.messages) ? D.messages : [];
    if (!msgs.length) return 'This conversation has no messages.';
    roles = D.roles || {};
    var p = D.player || {};
    cap = Math.max(1, Math.floor(Number(p.max_messages) || 100));
    var last = msgs[msgs.length - 1].at;
    duration = Math.max(Number(D.duration) || 0, last + 1);
    epochMs = Date.parse(params.get('epoch') || p.epoch || '2026-01-01T00:00:00Z');
    if (!isFinite(epochMs)) epochMs = 0;
    S.offset = (Number(params.get('offset')) || 0) * 1000;
    mode = params.get('sync') || p.sync || 'clock';
    startPos = momentFromUrl();
    if (startPos !== null) mode = 'moment';
    return '';
  }

  /** Position asked for by ?t= (H:MM:SS, M:SS or seconds) or #mNNNNN, else null. */
  function momentFromUrl() {
    var hash = decodeURIComponent(location.hash.slice(1));
    if (hash) {
      for (var i = 0; i < msgs.length; i++) if (msgs[i].id === hash) return msgs[i].at;
    }
    var t = params.get('t');
    if (!t) return null;
    var parts = t.replace(/s$/, '').split(':').map(Number);
    if (parts.some(function (n) { return !isFinite(n); })) return null;
    var secs = parts.reduce(function (acc, n) { return acc * 60 + n; }, 0);
    return Math.round(secs * 1000);
  }

  function now() { return Date.now() + S.skew + S.offset; }

  /** {loop, pos} for the current moment: pos = (now - epoch) mod duration in clock sync. */
  function where() {
    var p = mode === 'clock' ? now() - epochMs
      : mode === 'moment' ? startPos + (Date.now() - S.loadedAt)
      : now() - S.loadedAt;
    var loop = Math.floor(p / duration);
    return {loop: loop, pos: p - loop * duration, wall: now()};
  }

  /** Index of the last message with at <= pos, or -1 (binary search). */
  function lastShown(pos) {
    var a = 0, b = msgs.length - 1, r = -1;
    while (a <= b) {
      var m = (a + b) >> 1;
      if (msgs[m].at <= pos) { r = m; a = m + 1; } else b = m - 1;
    }
    return r;
  }

  /* ---------------------------------------------------------------- messages */

  function safeRel(src) {
    // Only relative paths inside the archive: no scheme (javascript:, http:), no absolute path.
    return typeof src === 'string' && src && !/^[a-z][a-z0-9+.-]*:/i.test(src) &&
      !/^[\/\\]/.test(src) && src.indexOf('\\') < 0 ? src : '';
  }

  var colors = {};
  function roleOf(name) {
    var r = roles[name] || {};
    if (!(name in colors)) {
      var c = typeof r.color === 'string' && window.CSS && CSS.supports('color', r.color) ? r.color : '';
      colors[name] = c;
    }
    return {label: String(r.label || name), side: r.side === 'right' ? 'right' : 'left', color: colors[name]};
  }

  var timeFmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});

  function make(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function selfieNode(s, sender) {
    var src = safeRel(s.src);
    if (!src) return null;
    var alt = String(s.alt || 'AI-generated selfie of ' + sender);
    var btn = make('button', 'msg__selfie');
    btn.type = 'button';
    btn.setAttribute('aria-label', 'enlarge: ' + alt);
    btn.dataset.full = src;
    var pic = make('picture');
    var webp = safeRel(s.webp);
    if (webp) {
      var source = make('source');
      source.type = 'image/webp';
      source.srcset = webp.replace(/[\s,]/g, encodeURIComponent);
      pic.appendChild(source);
    }
    var img = make('img');
    img.src = src;
    img.alt = alt;
    img.width = Number(s.width) || 512;
    img.height = Number(s.height) || 512;
    img.decoding = 'async';
    img.loading = 'lazy';
    pic.appendChild(img);
    btn.appendChild(pic);
    return btn;
  }

  /** The element for message i, shown at wall time `shownAt` (ms). */
  function messageNode(i, shownAt) {
    var m = msgs[i], prev = msgs[i - 1], role = roleOf(m.sender);
    var node = make('div', 'msg msg--' + role.side);
    node.id = String(m.id);
    node.dataset.messageId = String(m.id);
    node.dataset.sender = String(m.sender);
    if (!prev || prev.sender !== m.sender) node.classList.add('msg--spaced');
    if (role.color) node.style.setProperty('--role-color', role.color);
    node.appendChild(make('p', 'msg__sender', role.label));
    var bubble = make('div', 'msg__bubble');
    var selfie = m.selfie && selfieNode(m.selfie, role.label);
    if (selfie) bubble.appendChild(selfie);
    var text = typeof m.text === 'string' ? m.text : '';
    if (text.trim() || !selfie) bubble.appendChild(make('p', 'msg__text', text));
    var stamp = make('time', 'msg__time', timeFmt.format(shownAt));
    stamp.dateTime = new Date(shownAt).toISOString();
    bubble.appendChild(stamp);
    node.appendChild(bubble);
    if (observer) observer.observe(node);
    return node;
  }

  function removeNode(node) {
    if (observer) observer.unobserve(node);
    if (node.classList.contains('msg--breathing')) S.visible--;
    node.remove();
  }

  /* ---------------------------------------------------------------- the view */

  function atBottom() {
    var s = el.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= BOTTOM_SLACK;
  }

  function toBottom() {
    el.scroll.scrollTop = el.scroll.scrollHeight;
    S.unseen = 0;
    el.pill.hidden = true;
  }

  /** Throw the view away and draw the window ending at message hi, silently. */
  function rebuild(hi, w) {
    while (el.log.firstChild) removeNode(el.log.firstChild);
    S.extra = 0;
    S.hi = hi;
    S.lo = Math.max(0, hi - cap + 1);
    S.loop = w.loop;
    var frag = document.createDocumentFragment(), loopStart = w.wall - w.pos;
    for (var i = S.lo; i <= hi; i++) frag.appendChild(safeNode(i, loopStart));
    el.log.appendChild(frag);
    updateOlder();
    toBottom();
  }

  /** Append messages S.hi+1..hi; returns how many were added. */
  function append(hi, w) {
    var loopStart = w.wall - w.pos, added = 0;
    for (var i = S.hi + 1; i <= hi; i++, added++) el.log.appendChild(safeNode(i, loopStart));
    S.hi = hi;
    return added;
  }

  /** A message that cannot be drawn (bad data) becomes a placeholder instead of stopping the chat. */
  function safeNode(i, loopStart) {
    try {
      return messageNode(i, loopStart + msgs[i].at);
    } catch (err) {
      report(err);
      var node = make('div', 'msg msg--left msg--broken');
      node.dataset.messageId = String(msgs[i] && msgs[i].id);
      node.dataset.sender = '';
      node.appendChild(make('p', 'msg__text', '(this message could not be shown)'));
      return node;
    }
  }

  /** Remove the oldest messages beyond the cap (plus history the reader asked for). */
  function trim(bottom) {
    var keep = cap + S.extra;
    if (S.hi - S.lo + 1 <= keep) return updateOlder();
    // Keep the reader's place when rows vanish above it (no reliance on overflow-anchor: Safari).
    // At the bottom nothing is measured: one forced layout per tick is the main cost of 12 h.
    var before = bottom ? 0 : el.scroll.scrollHeight;
    while (S.hi - S.lo + 1 > keep && el.log.firstChild) {
      removeNode(el.log.firstChild);
      S.lo++;
    }
    if (!bottom) el.scroll.scrollTop -= before - el.scroll.scrollHeight;
    updateOlder();
  }

  function updateOlder() { el.older.hidden = S.lo <= 0; }

  /** Prepend up to `cap` earlier messages of this loop (history beyond the cap, d.1 item 19). */
  function showOlder() {
    var n = Math.min(cap, S.lo, MAX_HISTORY - S.extra);
    if (n <= 0) return;
    var w = where(), loopStart = w.wall - w.pos, before = el.scroll.scrollHeight;
    var frag = document.createDocumentFragment();
    for (var i = S.lo - n; i < S.lo; i++) frag.appendChild(safeNode(i, loopStart));
    el.log.insertBefore(frag, el.log.firstChild);
    S.lo -= n;
    S.extra += n;
    el.scroll.scrollTop += el.scroll.scrollHeight - before;
    updateOlder();
  }

  function updateWriting(pos) {
    var next = msgs[S.hi + 1], w = el.writing;
    var show = !!next && next.writing_at <= pos && pos < next.at;
    if (!show) {
      if (!w.hidden) { w.hidden = true; delete w.dataset.writing; }
      return;
    }
    var role = roleOf(next.sender), last = msgs[S.hi];
    w.className = 'msg msg--writing msg--' + role.side + (!last || last.sender !== next.sender ? ' msg--spaced' : '');
    if (role.color) w.style.setProperty('--role-color', role.color);
    w.dataset.writing = String(next.sender);
    w.hidden = false;
  }

  function showPill() {
    el.pill.textContent = S.unseen + (S.unseen === 1 ? ' new message ↓' : ' new messages ↓');
    el.pill.hidden = false;
  }

  /* ---------------------------------------------------------------- the tick */

  function tick(silent) {
    clearTimeout(S.timer);
    if (S.lost || !msgs) return;   // no data (the notice says why) or the link has expired
    var w = where();
    if (lostCheck()) return;
    try {
      if (!S.paused) render(w, silent === true);
    } catch (err) {
      report(err);
    }
    schedule(w);
    S.lastTick = w.wall;
  }

  function render(w, silent) {
    var hi = lastShown(w.pos), bottom = atBottom();   // measured before anything grows
    if (w.loop !== S.loop || hi < S.hi || hi - S.hi > cap) {
      rebuild(hi, w);
      bottom = true;
    } else if (hi > S.hi) {
      var added = append(hi, w);
      var m = msgs[hi];
      if (!silent && added === 1 && w.pos - m.at < LIVE_WINDOW) playFor(m);
      trim(bottom);
      if (!bottom) { S.unseen += added; showPill(); }
    }
    updateWriting(w.pos);
    if (bottom) el.scroll.scrollTop = el.scroll.scrollHeight;
    maybeReload(w);
  }

  /** Sleep until the next writing bubble, message or loop wrap (at most MAX_WAIT). */
  function schedule(w) {
    var next = msgs[S.hi + 1], due;
    if (S.paused || !next) due = duration;
    else due = next.writing_at > w.pos ? next.writing_at : next.at;
    if (S.paused || S.hi + 1 >= msgs.length) due = Math.max(due, w.pos + 1);
    S.timer = setTimeout(tick, Math.min(MAX_WAIT, Math.max(1, due - w.pos)));
  }

  /* ---------------------------------------------------------------- sound */

  // A short silent 8-bit WAV with real samples: priming with zero samples can fail (c.2).
  var SILENT = (function () {
    var n = 800, b = new Uint8Array(44 + n), v = new DataView(b.buffer);
    var put = function (o, s) { for (var i = 0; i < s.length; i++) b[o + i] = s.charCodeAt(i); };
    put(0, 'RIFF'); v.setUint32(4, 36 + n, true); put(8, 'WAVEfmt ');
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, 8000, true); v.setUint32(28, 8000, true); v.setUint16(32, 1, true);
    v.setUint16(34, 8, true); put(36, 'data'); v.setUint32(40, n, true);
    b.fill(128, 44);
    var s = '';
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return 'data:audio/wav;base64,' + btoa(s);
  })();

  function storeMuted(muted) {
    try { localStorage.setItem(MUTE_KEY, muted ? '1' : '0'); } catch (e) { /* storage off: fine */ }
  }

  function storedWantsSound() {
    try { return localStorage.getItem(MUTE_KEY) === '0'; } catch (e) { return false; }
  }

  /** Play the silent clip inside a user gesture, so later timer-driven play() calls work (iOS). */
  function prime() {
    var a = el.audio;
    a.muted = false;
    a.src = SILENT;
    var p = a.play();
    var ok = function () { S.unlocked = true; el.hint.hidden = true; };
    if (!p || !p.then) { ok(); return; }
    p.then(function () { a.pause(); ok(); }, function (err) {
      if (err && err.name === 'AbortError') ok();   // a live sound replaced the primer: unlocked
      else el.hint.hidden = !S.wantSound;
    });
  }

  function setSound(on, persist) {
    S.wantSound = on;
    el.mute.setAttribute('aria-pressed', on ? 'true' : 'false');
    el.mute.dataset.state = on ? 'on' : 'off';
    if (persist) storeMuted(!on);
    if (on) prime();
    else { el.audio.pause(); el.hint.hidden = true; }
  }

  function playFor(m) {
    var src = m.sound && safeRel(m.sound.src);
    if (!S.wantSound || !S.unlocked || !src) return;
    var a = el.audio;
    a.src = src;
    S.lastSound = String(m.id);
    var p = a.play();
    if (p && p.catch) {
      p.catch(function (err) {
        if (err && err.name === 'NotAllowedError') { S.unlocked = false; el.hint.hidden = false; }
      });
    }
  }

  /* ---------------------------------------------------------------- lightbox */

  var opener = null;

  function openLightbox(btn) {
    var img = btn.querySelector('img');
    var big = make('img');
    big.src = btn.dataset.full;
    big.alt = img ? img.alt : '';
    big.width = img ? img.width : 512;
    big.height = img ? img.height : 512;
    el.frame.replaceChildren(big);
    opener = btn;
    el.lightbox.showModal();
    el.close.focus();
  }

  function closedLightbox() {
    el.frame.replaceChildren();
    var back = opener && opener.isConnected ? opener : el.scroll;
    opener = null;
    back.focus();
  }

  /* ---------------------------------------------------------------- breathing font */

  var observer = null, motionQuery = window.matchMedia('(prefers-reduced-motion: reduce)');

  function hasBreathingFont() {
    if (!document.fonts || !document.fonts.forEach) return false;
    var found = false;
    document.fonts.forEach(function (f) { if (f.family.replace(/["']/g, '') === 'ghosts-body') found = true; });
    return found;
  }

  function breathingAllowed() {
    return !motionQuery.matches && !params.has('lowpower') && !document.hidden && S.visible > 0 &&
      S.fontOk;
  }

  function easeInOut(t) { return t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2; }

  /** One rAF loop, alive only while a message is on screen, the page visible, motion allowed. */
  function breathe() {
    if (S.breathing || !breathingAllowed()) return;
    S.breathing = true;
    var frame = function (t) {
      if (!breathingAllowed()) { S.breathing = false; return; }
      var phase = (t % 10000) / 5000;                         // 5 s in, 5 s out (the original)
      var x = easeInOut(phase <= 1 ? phase : 2 - phase);
      el.log.style.setProperty('--breath', x.toFixed(3));
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  function watchVisibility() {
    if (!('IntersectionObserver' in window)) return;
    observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        var on = e.isIntersecting, had = e.target.classList.contains('msg--breathing');
        if (on === had) return;
        e.target.classList.toggle('msg--breathing', on);
        S.visible += on ? 1 : -1;
      });
      breathe();
    }, {root: el.scroll});
  }

  /* ---------------------------------------------------------------- "connection lost" */

  function localDay(ms) {
    var d = new Date(ms);
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' +
      String(d.getDate()).padStart(2, '0');
  }

  /** The static stand-in for the original's gate: exhibition dates and/or a ?day= key (d.1 item 11). */
  function lostCheck() {
    var p = D.player || {}, today = localDay(now());
    var expired = (p.valid_from && today < String(p.valid_from)) ||
      (p.valid_until && today > String(p.valid_until)) ||
      (p.day_key && params.get('day') !== today);
    if (!expired) return false;
    S.lost = true;
    el.writing.hidden = true;
    delete el.writing.dataset.writing;
    el.audio.pause();
    root.classList.add('lost');
    var box = make('div', 'chat__lost');
    box.appendChild(make('p', 'chat__lost-title', 'connection lost'));
    box.appendChild(make('p', '', String(p.lost_text || 'Your link to the afterworld of data has ' +
      'expired. Links from the exhibition are only valid on the day they were made.')));
    el.notice.replaceWith(box);
    return true;
  }

  /* ---------------------------------------------------------------- errors, debug, kiosk */

  function report(err) {
    S.errors++;
    S.lastError = String(err && err.message || err).slice(0, 200);
    try { console.error('ghosts: ' + S.lastError); } catch (e) { /* nothing left to do */ }
    if (!root.classList.contains('kiosk')) notice('Something went wrong (' + S.lastError + '); the chat keeps playing.');
  }

  function fmtPos(ms) {
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return h + ':' + String(m).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  }

  function updateDebug() {
    var w = where(), next = msgs[S.hi + 1], mem = performance.memory;
    var due = next ? (next.writing_at > w.pos ? next.writing_at : next.at) - w.pos : null;
    el.debug.textContent = [
      'mode      ' + mode + (S.paused ? ' (paused)' : ''),
      'loop      ' + w.loop + '   position ' + fmtPos(w.pos) + ' / ' + fmtPos(duration),
      'last      ' + (msgs[S.hi] ? msgs[S.hi].id : '-') + '   shown ' + S.lo + '..' + S.hi,
      'next in   ' + (due === null ? 'loop end' : due + ' ms') + (S.paused ? '' : ''),
      'clock     skew ' + S.skew + ' ms, offset ' + S.offset + ' ms',
      'dom       ' + document.getElementsByTagName('*').length + ' elements',
      'heap      ' + (mem && mem.usedJSHeapSize > 0 ? (mem.usedJSHeapSize / 1048576).toFixed(1) + ' MB' : 'n/a'),
      'sound     ' + (S.wantSound ? 'on' : 'off') + ', ' + (S.unlocked ? 'unlocked' : 'locked') + ', last ' + (S.lastSound || '-'),
      'errors    ' + S.errors + (S.lastError ? ' (' + S.lastError + ')' : '')
    ].join('\n');
  }

  function startKiosk() {
    root.classList.add('kiosk');
    var lock = function () {
      if (navigator.wakeLock && document.visibilityState === 'visible') {
        navigator.wakeLock.request('screen').catch(function () { /* not granted: fine */ });
      }
    };
    lock();
    document.addEventListener('visibilitychange', lock);
    document.addEventListener('pointerdown', function () {
      if (document.documentElement.requestFullscreen && !document.fullscreenElement) {
        document.documentElement.requestFullscreen().catch(function () { /* no permission */ });
      }
      if (S.wantSound && !S.unlocked) prime();
    });
    setSound(true, false);   // relies on --autoplay-policy=no-user-gesture-required; else the hint
  }

  /** ?reload=H: reload after H hours, at a quiet moment (no bubble, nothing due for 5 s). */
  function maybeReload(w) {
    var hours = Number(params.get('reload'));
    if (!hours || Date.now() - S.loadedAt < hours * 3600000 || !el.writing.hidden) return;
    var next = msgs[S.hi + 1];
    if (!next || next.writing_at - w.pos > 5000) location.reload();
  }

  /* ---------------------------------------------------------------- clock skew over HTTP */

  /** Correct a wrong device clock from the host's Date header (http(s) only; c.6). */
  function checkSkew() {
    if (!/^https?:$/.test(location.protocol) || !window.fetch || mode === 'local') {
      skewDone();
      return;
    }
    var t0 = Date.now();
    fetch(location.href, {method: 'HEAD', cache: 'no-store'}).then(function (res) {
      var t1 = Date.now(), date = Date.parse(res.headers.get('Date') || '');
      if (isFinite(date)) {
        var skew = Math.round(date + 500 - (t0 + t1) / 2);   // the header truncates to seconds
        if (Math.abs(skew) > SKEW_MIN) { S.skew = skew; tick(true); }
      }
    }).catch(function () { /* offline or blocked: keep the local clock */ }).then(skewDone);
  }

  function skewDone() { S.skewChecked = true; root.dataset.clock = 'ready'; }

  /* ---------------------------------------------------------------- controls and start */

  function copyMoment() {
    var w = where(), url = new URL(location.href);
    url.hash = '';
    url.searchParams.set('t', fmtPos(w.pos));
    history.replaceState(null, '', url.href);
    var done = function (ok) {
      el.status.textContent = ok ? 'link copied' : 'link to this moment is in the address bar';
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(url.href).then(function () { done(true); }, function () { done(false); });
    } else done(false);
  }

  function togglePause() {
    S.paused = !S.paused;
    el.pause.setAttribute('aria-pressed', S.paused ? 'true' : 'false');
    root.classList.toggle('paused', S.paused);
    tick(true);   // resuming catches up silently
  }

  function bind() {
    ['scroll', 'log', 'older', 'writing', 'notice', 'pill', 'hint', 'mute', 'pause', 'moment',
      'status', 'lightbox', 'debug'].forEach(function (id) { el[id] = $(id); });
    el.frame = $('lightbox-frame');
    el.close = $('lightbox-close');
    el.audio = $('sound');
    el.mute.addEventListener('click', function () { setSound(!S.wantSound, true); });
    el.hint.addEventListener('click', prime);
    el.pause.addEventListener('click', togglePause);
    el.moment.addEventListener('click', copyMoment);
    el.older.addEventListener('click', showOlder);
    el.pill.addEventListener('click', toBottom);
    el.close.addEventListener('click', function () { el.lightbox.close(); });
    el.lightbox.addEventListener('close', closedLightbox);
    el.lightbox.addEventListener('click', function (e) { if (e.target === el.lightbox) el.lightbox.close(); });
    el.log.addEventListener('click', function (e) {
      var btn = e.target.closest && e.target.closest('.msg__selfie');
      if (btn) openLightbox(btn);
    });
    el.scroll.addEventListener('scroll', function () {
      if (!atBottom()) return;
      el.pill.hidden = true;
      S.unseen = 0;
      if (S.extra) { S.extra = 0; trim(true); }
    }, {passive: true});
    document.addEventListener('keydown', function (e) {
      if (e.key === 'End' && !e.altKey && !e.ctrlKey && e.target === document.body) toBottom();
    });
    document.addEventListener('visibilitychange', function () { if (!document.hidden) tick(); breathe(); });
    window.addEventListener('pageshow', function () { tick(); });
    window.addEventListener('hashchange', function () {
      var pos = momentFromUrl();
      if (pos === null) return;
      mode = 'moment'; startPos = pos; S.loadedAt = Date.now(); S.loop = null;
      tick(true);
      markTarget();
    });
    motionQuery.addEventListener && motionQuery.addEventListener('change', breathe);
  }

  function markTarget() {
    var id = decodeURIComponent(location.hash.slice(1)), node = id && document.getElementById(id);
    if (node && node.dataset.messageId) node.classList.add('msg--target');
  }

  function randomFavicon() {
    var link = document.querySelector('link[rel="icon"][data-variants]');
    var list = link ? link.dataset.variants.split(/\s+/).filter(safeRel) : [];
    if (list.length) link.href = list[Math.floor(Math.random() * list.length)];
  }

  function registerWorker() {
    var meta = document.querySelector('meta[name="ghosts:service-worker"]');
    if (!meta || !/^https?:$/.test(location.protocol) || !('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register(safeRel(meta.content) || 'sw.js', {scope: './'})
      .catch(function (err) { console.warn('ghosts: service worker not registered: ' + err); });
  }

  function start() {
    bind();
    window.addEventListener('error', function (e) { report(e.error || e.message); });
    window.addEventListener('unhandledrejection', function (e) { report(e.reason); });
    randomFavicon();
    var problem = loadData();
    if (problem) { fail(problem); skewDone(); return; }
    if (params.has('kiosk')) startKiosk();
    else setSound(storedWantsSound(), false);
    S.fontOk = hasBreathingFont();
    watchVisibility();
    tick(true);
    markTarget();
    if (params.has('pause')) togglePause();
    if (params.has('debug')) {
      el.debug.hidden = false;
      updateDebug();
      setInterval(updateDebug, 1000);
    }
    S.watchdog = setInterval(function () { if (S.lost) clearInterval(S.watchdog); else if (!S.paused) tick(); }, WATCHDOG);
    checkSkew();
    registerWorker();
    root.dataset.player = 'ready';
  }

  try { start(); } catch (err) { report(err); root.dataset.player = 'error'; }
})();
