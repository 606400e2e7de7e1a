/* ghosts-render chat player, part 3 of 7: sound. One <audio> element, reused for every message
 * and for its voice (part 4); off until the visitor asks (remembered in localStorage), and only
 * for messages that appear live.
 *
 * Browsers let a page play sound only after a user gesture
 * (https://developer.mozilla.org/en-US/docs/Web/Media/Guides/Autoplay). iOS Safari is stricter: an
 * element must first be play()ed inside the gesture, and later play() calls from timers work only
 * on that primed element. So the "sound" button plays a silent clip on the one element.
 */
(function (P) {
  'use strict';

  var MUTE_KEY = 'ghosts:muted';
  var S = P.state, el = P.el;

  // A short silent 8-bit WAV with real samples: priming with a clip of zero samples, or calling
  // load() before play() resolves, can leave iOS locked.
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

  /** Whether the visitor turned sound on last time (localStorage is off: no). */
  function storedWantsSound() {
    try { return localStorage.getItem(MUTE_KEY) === '0'; } catch (e) { return false; }
  }

  /** Play the silent clip inside a user gesture, so later timer-driven play() calls work (iOS). */
  function prime() {
    var a = el.audio;
    P.voice.stop();   // the primer takes the element; once unlocked, a clip in progress resumes
    a.muted = false;
    a.src = SILENT;
    var p = a.play();
    var ok = function () { S.unlocked = true; el.hint.hidden = true; P.voice.resume(); };
    if (!p || !p.then) { ok(); return; }
    p.then(function () { a.pause(); ok(); }, function (err) {
      if (err && err.name === 'AbortError') ok();   // a live sound replaced the primer: unlocked
      else el.hint.hidden = !S.wantSound;
    });
  }

  /** Turn sound on or off (persist: remember the choice for the next visit). */
  function setSound(on, persist) {
    S.wantSound = on;
    el.mute.setAttribute('aria-pressed', on ? 'true' : 'false');
    el.mute.dataset.state = on ? 'on' : 'off';
    if (persist) storeMuted(!on);
    if (on) prime();
    else { P.voice.stop(); el.audio.pause(); el.hint.hidden = true; }
  }

  /** Play message m's sound, if sound is on and unlocked; a refusal shows "tap for sound". */
  function playFor(m) {
    var src = m.sound && Ghosts.safeRel(m.sound.src);
    if (!S.wantSound || !S.unlocked || !src) return;
    var a = el.audio;
    a.src = src;
    P.voice.replaced();   // a voice still on the element is cut: the new message comes first
    S.lastSound = String(m.id);
    var p = a.play();
    if (p && p.catch) {
      p.catch(function (err) {
        if (err && err.name === 'NotAllowedError') { S.unlocked = false; el.hint.hidden = false; }
      });
    }
  }

  P.sound = {storedWantsSound: storedWantsSound, prime: prime, setSound: setSound, playFor: playFor};
})(GhostsPlayer);
