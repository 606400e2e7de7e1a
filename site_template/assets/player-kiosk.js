/* ghosts-render chat player, part 6 of 7: the modes around the chat. Notices and errors, the
 * gallery kiosk (?kiosk=1, ?reload=H), the "connection lost" gate and the ?debug=1 overlay.
 */
(function (P) {
  'use strict';

  var QUIET = 5000;   // ms: a kiosk reloads only when no writing bubble is due this soon
  var S = P.state, el = P.el, root = document.documentElement;

  /** Show a notice under the chat ('' hides it); kiosk mode shows only what must be seen. */
  function notice(text, always) {
    if (!el.notice || (root.classList.contains('kiosk') && !always)) return;
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  /** The player cannot play at all: say why. */
  function fail(text) {
    root.dataset.player = 'error';
    notice(text, true);
  }

  /** Count and log an error; the chat keeps playing. */
  function report(err) {
    S.errors++;
    S.lastError = String(err && err.message || err).slice(0, 200);
    try { console.error('ghosts: ' + S.lastError); } catch (e) { /* nothing left to do */ }
    notice('Something went wrong (' + S.lastError + '); the chat keeps playing.');
  }

  /**
   * Kiosk: no cursor or controls, the screen kept awake, fullscreen on the first tap, sound on.
   * A wake lock is released whenever the page is hidden, so it is asked for again on every
   * visibilitychange (https://developer.mozilla.org/en-US/docs/Web/API/Screen_Wake_Lock_API);
   * fullscreen needs a user gesture, hence the tap.
   */
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
      if (root.requestFullscreen && !document.fullscreenElement) {
        root.requestFullscreen().catch(function () { /* no permission */ });
      }
      if (S.wantSound && !S.unlocked) P.sound.prime();
    });
    // Plays only with chromium --autoplay-policy=no-user-gesture-required; else "tap for sound".
    P.sound.setSound(true, false);
  }

  /** ?reload=H: reload after H hours (at least one), at a quiet moment: no bubble, none due. */
  function maybeReload(w) {
    var every = P.params.reloadMs;
    if (!every || Date.now() - S.loadedAt < every || !el.writing.hidden) return;
    var next = P.data.msgs[S.hi + 1];
    if (next && next.writing_at - w.pos <= QUIET) return;
    S.reloading = true;
    location.reload();
  }

  /**
   * The static stand-in for the original's gate (an artistic gesture, not access control):
   * outside the exhibition's dates, or with a ?day= that is not today, the chat shows the
   * "connection lost" text for good. Returns whether the link has expired.
   */
  function lostCheck() {
    var d = P.data, today = Ghosts.localDay(P.clock.now());
    var expired = (d.validFrom && today < d.validFrom) || (d.validUntil && today > d.validUntil) ||
      (d.dayKey && P.params.day !== today);
    if (!expired) return false;
    S.lost = true;
    P.view.hideWriting();
    el.audio.pause();
    root.classList.add('lost');
    var box = P.view.make('div', 'chat__lost');
    box.appendChild(P.view.make('h2', 'sr-only', 'connection lost'));
    box.appendChild(P.view.make('p', 'chat__lost-text', d.lostText));
    el.notice.replaceWith(box);
    return true;
  }

  function fmtPos(ms) {
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return h + ':' + String(m).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  }

  function updateDebug() {
    var w = P.clock.where(), msgs = P.data.msgs, next = msgs[S.hi + 1], mem = performance.memory;
    var due = next ? (next.writing_at > w.pos ? next.writing_at : next.at) - w.pos : null;
    el.debug.textContent = [
      'mode      ' + S.mode + (S.paused ? ' (paused)' : ''),
      'loop      ' + w.loop + '   position ' + fmtPos(w.pos) + ' / ' + fmtPos(P.data.duration),
      'last      ' + (msgs[S.hi] ? msgs[S.hi].id : '-') + '   shown ' + S.lo + '..' + S.hi,
      'next in   ' + (due === null ? 'loop end' : due + ' ms'),
      'clock     skew ' + S.skew + ' ms, offset ' + P.params.offsetMs + ' ms',
      'dom       ' + document.getElementsByTagName('*').length + ' elements',
      'heap      ' + (mem && mem.usedJSHeapSize > 0
        ? (mem.usedJSHeapSize / 1048576).toFixed(1) + ' MB' : 'n/a'),
      'sound     ' + (S.wantSound ? 'on' : 'off') + ', ' + (S.unlocked ? 'unlocked' : 'locked') +
        ', last ' + (S.lastSound || '-'),
      'voice     ' + P.voice.describe(),
      'errors    ' + S.errors + (S.lastError ? ' (' + S.lastError + ')' : '')
    ].join('\n');
  }

  /** The ?debug=1 overlay, redrawn every second. */
  function startDebug() {
    el.debug.hidden = false;
    updateDebug();
    setInterval(updateDebug, 1000);
  }

  P.kiosk = {notice: notice, fail: fail, report: report, startKiosk: startKiosk,
    maybeReload: maybeReload, lostCheck: lostCheck, fmtPos: fmtPos, startDebug: startDebug};
})(GhostsPlayer);
