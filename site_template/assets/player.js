/* ghosts-render chat player, part 7 of 7: the tick, the controls and the start.
 *
 * Every tick asks the clock where the loop is now and redraws that moment; then it sleeps until
 * the next writing bubble, message or loop wrap. Timers drift, are throttled in hidden tabs
 * (down to once a minute: https://developer.chrome.com/blog/timer-throttling-in-chrome-88) and
 * stop during sleep, so no timer waits longer than MAX_WAIT, a watchdog ticks regardless, and
 * visibilitychange / pageshow tick at once.
 */
(function (P) {
  'use strict';

  var MAX_WAIT = 30000;   // ms: the longest single timer
  var WATCHDOG = 15000;   // ms
  var S = P.state, el = P.el, root = document.documentElement;

  function tick(silent) {
    clearTimeout(S.timer);
    if (S.lost || S.reloading || !P.data) return;   // no data (the notice says why), expired
    var w = P.clock.where();
    if (P.kiosk.lostCheck()) return;
    try {
      if (!S.paused) {
        P.view.render(w, silent === true);
        P.voice.update(w);   // a voice is never backlog: a clip in progress plays from its offset
        P.kiosk.maybeReload(w);
      }
    } catch (err) {
      P.kiosk.report(err);
    }
    schedule(w);
  }

  /** Sleep until the next writing bubble, message or loop wrap (at most MAX_WAIT). */
  function schedule(w) {
    var msgs = P.data.msgs, next = msgs[S.hi + 1], due;
    if (S.paused || !next) due = P.data.duration;
    else due = next.writing_at > w.pos ? next.writing_at : next.at;
    if (!S.paused) due = Math.min(due, P.voice.nextDue(w.pos));   // a clip starts or ends
    if (S.paused || S.hi + 1 >= msgs.length) due = Math.max(due, w.pos + 1);
    S.timer = setTimeout(tick, Math.min(MAX_WAIT, Math.max(1, due - w.pos)));
  }

  /** "link to this moment": a ?t= link in the address bar, and on the clipboard if allowed. */
  function copyMoment() {
    var url = new URL(location.href);
    url.hash = '';
    url.searchParams.set('t', P.kiosk.fmtPos(P.clock.where().pos));
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
    if (S.paused) P.voice.update(P.clock.where());   // the voice stops with the view
    tick(true);   // resuming catches up silently (a clip in progress plays on from its offset)
  }

  /** Highlight the message a #mNNNNN link points at. */
  function markTarget() {
    var id = P.clock.hashId(), node = id && document.getElementById(id);
    if (node && node.dataset.messageId) node.classList.add('msg--target');
  }

  /** A new #mNNNNN (or ?t=) while open: jump there. */
  function followLink() {
    var pos = P.clock.momentFromUrl();
    if (pos === null) return;
    S.mode = 'moment';
    S.startPos = pos;
    S.loadedAt = Date.now();
    S.loop = null;
    tick(true);
    markTarget();
  }

  function bind() {
    ['scroll', 'log', 'older', 'writing', 'notice', 'pill', 'hint', 'mute', 'pause', 'moment',
      'status', 'lightbox', 'debug'].forEach(function (id) { el[id] = document.getElementById(id); });
    el.frame = document.getElementById('lightbox-frame');
    el.close = document.getElementById('lightbox-close');
    el.audio = document.getElementById('sound');
    el.mute.addEventListener('click', function () { P.sound.setSound(!S.wantSound, true); });
    el.hint.addEventListener('click', P.sound.prime);
    el.pause.addEventListener('click', togglePause);
    el.moment.addEventListener('click', copyMoment);
    el.older.addEventListener('click', P.view.showOlder);
    el.pill.addEventListener('click', P.view.toBottom);
    el.close.addEventListener('click', function () { el.lightbox.close(); });
    el.lightbox.addEventListener('close', P.view.closedLightbox);
    el.lightbox.addEventListener('click', function (e) {
      if (e.target === el.lightbox) el.lightbox.close();   // a click on the backdrop
    });
    el.log.addEventListener('click', function (e) {
      var btn = e.target.closest && e.target.closest('.msg__selfie');
      if (btn) P.view.openLightbox(btn);
    });
    el.scroll.addEventListener('scroll', function () {
      if (P.view.atBottom()) P.view.backAtBottom();
    }, {passive: true});
    document.addEventListener('keydown', function (e) {
      if (e.key === 'End' && !e.altKey && !e.ctrlKey && e.target === document.body) P.view.toBottom();
    });
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) tick();
      P.breath.breathe();
    });
    window.addEventListener('pageshow', function () { tick(); });
    window.addEventListener('hashchange', followLink);
    window.addEventListener('error', function (e) { P.kiosk.report(e.error || e.message); });
    window.addEventListener('unhandledrejection', function (e) { P.kiosk.report(e.reason); });
  }

  function start() {
    bind();
    Ghosts.randomFavicon();
    var problem = P.clock.load();
    if (problem) {
      P.kiosk.fail(problem);
      P.clock.clockReady();
      return;
    }
    if (P.params.kiosk) P.kiosk.startKiosk();
    else P.sound.setSound(P.sound.storedWantsSound(), false);
    P.breath.start();
    tick(true);
    markTarget();
    if (P.params.pause) togglePause();
    if (P.params.debug) P.kiosk.startDebug();
    var watchdog = setInterval(function () {
      if (S.lost) clearInterval(watchdog);
      else if (!S.paused) tick();
    }, WATCHDOG);
    P.clock.checkSkew(function () { tick(true); });
    Ghosts.registerServiceWorker();
    root.dataset.player = 'ready';
  }

  try {
    start();
  } catch (err) {
    P.kiosk.report(err);
    root.dataset.player = 'error';
  }
})(GhostsPlayer);
