/* ghosts-render chat player, part 1 of 7: its state, its settings and the clock.
 *
 * The player is seven classic scripts sharing one global, `GhostsPlayer` (P below), loaded in
 * order by index.html: player-clock.js (state, settings, clock), player-view.js (drawing),
 * player-sound.js, player-voice.js (spoken messages), player-breath.js (the breathing font),
 * player-kiosk.js (kiosk, reload, "connection lost", debug) and player.js (the tick, the
 * controls, the start). Classic scripts,
 * no modules, no build, no dependencies: module scripts and fetch() do not load from file://
 * (https://developer.mozilla.org/en-US/docs/Web/HTTP/CORS/Errors/CORSRequestNotHttp).
 *
 * The wall clock is the master: every tick derives the loop position from Date.now() and the
 * epoch; nothing accumulates, so sleep, throttled timers and clock jumps simply redraw the right
 * moment. Generated text is only ever inserted with textContent, never as HTML.
 */
var GhostsPlayer = (function () {
  'use strict';

  var MAX_OFFSET_S = 100 * 366 * 86400;   // s: ?offset= beyond a century is no clock correction
  var MIN_RELOAD_H = 1;                   // h: ?reload= never reloads more often than this
  var SKEW_MIN = 2000;   // ms: a Date-header skew below this is noise (the header has 1 s steps)

  var P = {
    data: null,     // the conversation and its resolved player settings (read once, by load)
    params: null,   // the URL's parameters, checked and clamped (read once, by load)
    el: {},         // the page's elements, by id (bound once, by player.js)
    clock: {}, view: {}, sound: {}, voice: {}, breath: {}, kiosk: {}   // the parts, by file
  };

  /** All mutable state of the player: nothing else changes after load. Sizes stay bounded. */
  P.state = {
    mode: 'clock',         // 'clock' (shared wall clock), 'local' (from page open), 'moment' (?t=, #id)
    startPos: 0,           // ms: loop position the page opened at, in 'moment' mode
    loadedAt: Date.now(),  // ms: when the page, or the last permalink, was opened
    skew: 0,               // ms: the host's clock minus this device's, from the Date header
    lo: 0,                 // index of the first message in the page
    hi: -1,                // index of the last message in the page (-1: none)
    loop: null,            // the loop number drawn (null: nothing drawn yet)
    extra: 0,              // messages kept beyond the cap because the reader asked for history
    unseen: 0,             // new messages below the reader's scroll position
    paused: false,
    lost: false,           // the link has expired: the chat shows "connection lost" for good
    reloading: false,      // a kiosk reload was asked for: nothing more to draw in this page
    timer: 0,              // the next tick's setTimeout
    wantSound: false,      // the visitor (or kiosk mode) asked for sound
    unlocked: false,       // the audio element was primed inside a user gesture
    lastSound: '',         // id of the message whose sound played last (debug overlay)
    voiceId: '',           // id of the message whose voice is on the audio element now ('' none)
    voiceHeard: '',        // id of the clip last started: it is not started again while current
    speaking: '',          // id of the message marked as being spoken ('' none)
    opener: null,          // the selfie button the open lightbox returns focus to
    fontOk: false,         // the artist's body font is loaded: the breathing font can run
    visible: 0,            // messages on screen (IntersectionObserver), for the breathing font
    breathing: false,      // the breathing font's animation frame loop is running
    observer: null,        // the IntersectionObserver that counts messages on screen
    errors: 0,             // errors caught so far (debug overlay)
    lastError: ''
  };

  var PROBLEM_REBUILD = ' Rebuild the player with "ghosts-render site" on this folder.';

  /** Read the conversation and its resolved player settings; return a problem, or ''. */
  function load() {
    var D = window.GHOSTS_CONVERSATION;
    if (!D || typeof D !== 'object') {
      return 'The conversation is missing: conversation.js was not found next to this page.' +
        PROBLEM_REBUILD;
    }
    if (D.format !== 'ghosts-render/conversation' || typeof D.version !== 'number') {
      return 'conversation.js is not a ghosts-render conversation.' + PROBLEM_REBUILD;
    }
    if (D.version > 1) {
      return 'This conversation was written by a newer ghosts-render (format version ' +
        D.version + '). Rebuild the player with that version.';
    }
    var msgs = Array.isArray(D.messages) ? D.messages : [];
    if (!msgs.length) return 'This conversation has no messages.';
    var settings = readSettings(D.player);
    if (typeof settings === 'string') return settings;
    P.data = settings;
    settings.msgs = msgs;
    settings.roles = D.roles && typeof D.roles === 'object' ? D.roles : {};
    settings.duration = Math.max(Number(D.duration) || 0, Number(msgs[msgs.length - 1].at) + 1);
    P.params = readParams(new URLSearchParams(location.search));
    if (P.params.epochMs !== null) settings.epochMs = P.params.epochMs;
    if (P.params.join) settings.join = P.params.join;
    P.state.mode = P.params.sync || settings.sync;
    var pos = momentFromUrl();
    if (pos !== null) { P.state.mode = 'moment'; P.state.startPos = pos; }
    return '';
  }

  /**
   * The player settings as `ghosts-render site` resolved them: every key is present, defaults
   * filled in by Python (the one place defaults live). A conversation.js without them was written
   * by an older ghosts-render: say so rather than guess.
   */
  function readSettings(p) {
    p = p && typeof p === 'object' ? p : {};
    var epochMs = typeof p.epoch === 'string' ? Date.parse(p.epoch) : NaN;
    var bad = [];
    if (!(Number.isInteger(p.max_messages) && p.max_messages >= 1)) bad.push('max_messages');
    if (p.sync !== 'clock' && p.sync !== 'local') bad.push('sync');
    if (!isFinite(epochMs)) bad.push('epoch');
    if (typeof p.lost_text !== 'string') bad.push('lost_text');
    ['valid_from', 'valid_until'].forEach(function (k) {
      if (typeof p[k] !== 'string') bad.push(k);
    });
    if (typeof p.day_key !== 'boolean') bad.push('day_key');
    var oneOf = function (key, allowed) { if (allowed.indexOf(p[key]) < 0) bad.push(key); };
    oneOf('join', ['live', 'backlog']);
    oneOf('day_start', ['first', 'continue']);
    oneOf('sound_devices', ['all', 'kiosk', 'visitors']);
    oneOf('theme', ['tinted', 'original']);
    if (typeof p.transcript !== 'boolean') bad.push('transcript');
    ['expire', 'idle_reset'].forEach(function (k) {
      if (!(typeof p[k] === 'number' && p[k] >= 0 && isFinite(p[k]))) bad.push(k);
    });
    ['hours', 'timezone', 'closed_text', 'lang'].forEach(function (k) {
      if (typeof p[k] !== 'string') bad.push(k);
    });
    if (!p.wifi || typeof p.wifi !== 'object') bad.push('wifi');
    if (bad.length) {
      return 'conversation.js lacks player settings (' + bad.join(', ') + ').' + PROBLEM_REBUILD;
    }
    return {cap: p.max_messages, sync: p.sync, epochMs: epochMs, lostText: p.lost_text,
      validFrom: p.valid_from, validUntil: p.valid_until, dayKey: p.day_key,
      join: p.join, transcript: p.transcript, expireMs: p.expire * 1000, hours: p.hours,
      timezone: p.timezone, closedText: p.closed_text || Ghosts.t('chat.closed_text'),
      dayStart: p.day_start, idleResetMs: p.idle_reset * 1000, soundDevices: p.sound_devices,
      wifi: p.wifi, theme: p.theme, lang: p.lang};
  }

  /** The URL's parameters: what makes no sense is ignored, what is extreme is clamped. */
  function readParams(q) {
    var offset = Number(q.get('offset'));
    var hours = Number(q.get('reload'));
    var epochMs = q.has('epoch') ? Date.parse(q.get('epoch')) : NaN;
    var sync = q.get('sync'), join = q.get('join'), sound = q.get('sound');
    return {
      // seconds added to this device's clock; a century or more is no correction: ignored
      offsetMs: isFinite(offset) && Math.abs(offset) <= MAX_OFFSET_S ? offset * 1000 : 0,
      // kiosk reload interval; none unless positive, and at least MIN_RELOAD_H
      reloadMs: hours > 0 && isFinite(hours) ? Math.max(hours, MIN_RELOAD_H) * 3600000 : 0,
      epochMs: isFinite(epochMs) ? epochMs : null,
      sync: sync === 'clock' || sync === 'local' ? sync : '',
      join: join === 'live' || join === 'backlog' ? join : '',   // '' = the archive's setting
      sound: sound === 'on' || sound === 'off' ? sound : '',     // this device; '' = the setting
      day: q.get('day') || '',
      kiosk: q.has('kiosk'),
      debug: q.has('debug'),
      lowpower: q.has('lowpower'),
      pause: q.has('pause')
    };
  }

  /** The page's #fragment, decoded; '' when it is malformed (a lone "%"), never an error. */
  function hashId() {
    try {
      return decodeURIComponent(location.hash.slice(1));
    } catch (err) {
      return '';
    }
  }

  /**
   * Position asked for by #mNNNNN or ?t= (H:MM:SS, M:SS or seconds), else null. A ?t= beyond the
   * loop opens at its last message; a negative one at the start.
   */
  function momentFromUrl() {
    var msgs = P.data.msgs, id = hashId();
    if (id) {
      for (var i = 0; i < msgs.length; i++) if (msgs[i].id === id) return msgs[i].at;
    }
    var t = new URLSearchParams(location.search).get('t');
    if (!t) return null;
    var parts = t.replace(/s$/, '').split(':').map(Number);
    if (parts.some(function (n) { return !isFinite(n); })) return null;
    var ms = parts.reduce(function (acc, n) { return acc * 60 + n; }, 0) * 1000;
    if (!isFinite(ms)) return null;
    return Math.round(Math.min(Math.max(ms, 0), msgs[msgs.length - 1].at));
  }

  /** This device's clock, corrected by the host's Date header and ?offset= (ms). */
  function now() { return Date.now() + P.state.skew + P.params.offsetMs; }

  /** {loop, pos, wall} now: pos = (now - epoch) mod duration in clock sync, always in range. */
  function where() {
    var S = P.state, d = P.data, wall = now();
    var p = S.mode === 'clock' ? wall - d.epochMs
      : S.mode === 'moment' ? S.startPos + (Date.now() - S.loadedAt)
      : wall - S.loadedAt;
    var pos = (p % d.duration + d.duration) % d.duration;   // % is exact, also for huge p
    return {loop: Math.round((p - pos) / d.duration), pos: pos, wall: wall};
  }

  /** Index of the last message with at <= pos, or -1 (binary search). */
  function lastShown(pos) {
    var msgs = P.data.msgs, a = 0, b = msgs.length - 1, r = -1;
    while (a <= b) {
      var m = (a + b) >> 1;
      if (msgs[m].at <= pos) { r = m; a = m + 1; } else b = m - 1;
    }
    return r;
  }

  /**
   * Correct a wrong device clock from the host's Date header (http(s) only: a HEAD request to the
   * page itself, no server code). The header truncates to whole seconds
   * (https://developer.mozilla.org/en-US/docs/Web/HTTP/Reference/Headers/Date), hence the
   * + 500 ms and the 2 s threshold. Sets data-clock="ready" on <html> when done, either way.
   */
  function checkSkew(onSkew) {
    if (!/^https?:$/.test(location.protocol) || !window.fetch || P.state.mode === 'local') {
      clockReady();
      return;
    }
    var t0 = Date.now();
    fetch(location.href, {method: 'HEAD', cache: 'no-store'}).then(function (res) {
      var t1 = Date.now(), date = Date.parse(res.headers.get('Date') || '');
      if (isFinite(date)) {
        var skew = Math.round(date + 500 - (t0 + t1) / 2);
        if (Math.abs(skew) > SKEW_MIN) { P.state.skew = skew; onSkew(); }
      }
    }).catch(function () { /* offline or blocked: keep the local clock */ }).then(clockReady);
  }

  function clockReady() { document.documentElement.dataset.clock = 'ready'; }

  P.clock = {load: load, hashId: hashId, momentFromUrl: momentFromUrl, now: now, where: where,
    lastShown: lastShown, checkSkew: checkSkew, clockReady: clockReady};
  return P;
})();
