/* ghosts-render chat player, part 4 of 7: voices. A message may carry a spoken clip,
 * {"voice": {"src", "at", "duration_ms"}}, `at` in loop ms like the message's own: the render
 * places it just after the notification sound.
 *
 * The clip plays on the one primed <audio> element of part 3 (iOS lets timers play only on an
 * element that was played inside a gesture), so a clip replaces the ping on it. Like everything
 * else here the clock decides: a clip is "current" while the loop position is inside
 * [voice.at, voice.at + duration_ms). Every tick looks for the current clip; one that has not
 * been started on this element yet starts at the offset the clock gives, so a visitor who opens
 * the page, un-pauses or turns sound on mid-clip hears the rest of it from the right moment,
 * and a clip that ended before the page opened (the backlog) never speaks. The message being
 * spoken carries the class `speaking`, whatever the sound setting (it is part of the
 * choreography, as the writing bubble is).
 */
(function (P) {
  'use strict';

  var LOOKBACK = 8;     // messages before the last shown one whose clip may still be current
  var GRACE = 1000;     // ms: a clip may play on this long past its end (a late start); no longer
  var S = P.state, el = P.el;

  /** The message's voice as {src, at, end} (ms), or null when it has none that can play. */
  function voiceOf(m) {
    var v = m && m.voice;
    if (!v || typeof v !== 'object') return null;
    var src = Ghosts.safeRel(v.src), at = Number(v.at), dur = Number(v.duration_ms);
    if (!src || !isFinite(at) || !(dur > 0)) return null;
    return {src: src, at: at, end: at + dur};
  }

  /** Index of the shown message whose clip is being spoken at pos, or -1 (the latest wins). */
  function currentClip(pos) {
    var best = -1, bestAt = -Infinity, msgs = P.data.msgs;
    for (var i = S.hi; i >= 0 && i >= S.hi - LOOKBACK; i--) {
      var v = voiceOf(msgs[i]);
      if (v && v.at <= pos && pos < v.end && v.at > bestAt) { best = i; bestAt = v.at; }
    }
    return best;
  }

  /** The next loop position (ms) after pos at which a clip of a shown message starts or ends. */
  function nextDue(pos) {
    var due = Infinity, msgs = P.data.msgs;
    for (var i = S.hi; i >= 0 && i >= S.hi - LOOKBACK; i--) {
      var v = voiceOf(msgs[i]);
      if (!v) continue;
      if (v.at > pos) due = Math.min(due, v.at);
      else if (v.end > pos) due = Math.min(due, v.end);
    }
    return due;
  }

  function nodeOf(id) {
    for (var n = el.log.lastChild; n; n = n.previousSibling) {
      if (n.dataset && n.dataset.messageId === id) return n;
    }
    return null;
  }

  /** Mark the message being spoken (id, or '' for none): class and screen-reader description. */
  function mark(id) {
    var node = id ? nodeOf(id) : null;
    if (S.speaking === id && (!id || (node && node.classList.contains('speaking')))) return;
    var old = S.speaking && nodeOf(S.speaking);
    if (old) {
      old.classList.remove('speaking');
      old.removeAttribute('aria-describedby');
    }
    if (node) {
      node.classList.add('speaking');
      // A description, not a live announcement: read with the message, never on its own.
      node.setAttribute('aria-describedby', 'speaking-label');
    }
    S.speaking = node ? id : '';
  }

  /** Whether a voice may play now: sound on and unlocked, not paused, not lost. */
  function audible() {
    return S.wantSound && S.unlocked && !S.paused && !S.lost;
  }

  /** The loop position now, as far as the voices are concerned (the same clock as the view). */
  function offsetOf(v) { return Math.max(0, (P.clock.where().pos - v.at) / 1000); }

  /** Start clip v of message m on the shared element, from where the clock is in it. */
  function start(m, v) {
    var a = el.audio, seek = function () {
      a.removeEventListener('loadedmetadata', seek);
      if (S.voiceId === String(m.id)) a.currentTime = offsetOf(v);   // time passed while loading
    };
    a.src = v.src;
    S.voiceId = S.voiceHeard = String(m.id);
    a.addEventListener('loadedmetadata', seek);
    // Before metadata this sets the default playback start position; an engine that refuses
    // gets the seek on loadedmetadata above.
    try { a.currentTime = offsetOf(v); } catch (e) { /* seeked once the metadata is in */ }
    var p = a.play();
    if (p && p.catch) {
      p.catch(function (err) {
        if (!err || err.name !== 'NotAllowedError') return;   // AbortError: replaced, fine
        S.unlocked = false;
        el.hint.hidden = false;
        if (S.voiceId === String(m.id)) S.voiceId = S.voiceHeard = '';   // a tap starts it again
      });
    }
  }

  /** Stop the voice on the element (mute, pause, a jump): it may start again from its offset. */
  function stop() {
    if (S.voiceId) el.audio.pause();
    S.voiceId = S.voiceHeard = '';
  }

  /** The element now plays something else (a ping): no voice on it, and none to stop. */
  function replaced() { S.voiceId = ''; }

  /** Bring voices in line with the moment w: the speaking mark, start, or stop. */
  function update(w) {
    if (S.paused || S.lost) { mark(''); stop(); return; }
    var i = currentClip(w.pos), m = P.data.msgs[i];
    var id = i >= 0 ? String(m.id) : '';
    mark(id);
    if (S.voiceId && S.voiceId !== id) {
      var playing = null;
      for (var k = S.hi; k >= 0 && k >= S.hi - LOOKBACK; k--) {
        if (String(P.data.msgs[k].id) === S.voiceId) { playing = voiceOf(P.data.msgs[k]); break; }
      }
      // Past its end (plus a late start's grace), before its start (a jump back): silence it.
      if (!playing || w.pos >= playing.end + GRACE || w.pos < playing.at) stop();
    }
    if (!id) { if (!S.voiceId) S.voiceHeard = ''; return; }
    if (id !== S.voiceHeard && audible()) start(m, voiceOf(m));
  }

  /** Sound was turned on, unlocked or resumed: a clip in progress plays on from its offset. */
  function resume() {
    if (P.data && !S.paused && !S.lost) update(P.clock.where());
  }

  /** What the debug overlay shows: the current clip, where in it, and whether it is heard. */
  function describe() {
    var w = P.clock.where(), i = currentClip(w.pos);
    if (i < 0) return '-' + (S.voiceHeard ? ', last ' + S.voiceHeard : '');
    var m = P.data.msgs[i], v = voiceOf(m);
    return m.id + ' ' + ((w.pos - v.at) / 1000).toFixed(1) + ' / ' +
      ((v.end - v.at) / 1000).toFixed(1) + ' s, ' +
      (S.voiceId === String(m.id) ? (el.audio.paused ? 'paused' : 'playing') : 'not heard');
  }

  P.voice = {voiceOf: voiceOf, currentClip: currentClip, nextDue: nextDue, update: update,
    resume: resume, stop: stop, replaced: replaced, describe: describe};
})(GhostsPlayer);
