/* ghosts-render chat player, part 5 of 7: the breathing font. With the artist's variable font,
 * messages on screen slowly change weight and slant (the custom property --breath, 0..1), as in
 * the original work. Animating font-variation-settings lays the text out again every frame, so
 * it runs only for messages on screen, only while the page is visible, never under reduced
 * motion or ?lowpower, and the frame loop stops whenever nothing may breathe.
 */
(function (P) {
  'use strict';

  var PERIOD = 10000;   // ms: 5 s in, 5 s out (the original's pace)
  var S = P.state, el = P.el;
  var motionQuery = window.matchMedia('(prefers-reduced-motion: reduce)');

  /** Whether the artist's body font (family ghosts-body) is declared on the page. */
  function hasBreathingFont() {
    if (!document.fonts || !document.fonts.forEach) return false;
    var found = false;
    document.fonts.forEach(function (f) {
      if (f.family.replace(/["']/g, '') === 'ghosts-body') found = true;
    });
    return found;
  }

  function allowed() {
    return S.fontOk && S.visible > 0 && !motionQuery.matches && !P.params.lowpower &&
      !document.hidden;
  }

  function easeInOut(t) { return t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2; }

  /** Start the one animation frame loop if it may run and is not running yet. */
  function breathe() {
    if (S.breathing || !allowed()) return;
    S.breathing = true;
    var frame = function (t) {
      if (!allowed()) { S.breathing = false; return; }
      var phase = (t % PERIOD) / (PERIOD / 2);
      var x = easeInOut(phase <= 1 ? phase : 2 - phase);
      el.log.style.setProperty('--breath', x.toFixed(3));
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  /** Count the messages on screen (class msg--breathing) and (re)start the loop. */
  function start() {
    S.fontOk = hasBreathingFont();
    if (motionQuery.addEventListener) motionQuery.addEventListener('change', breathe);
    if (!('IntersectionObserver' in window)) return;
    S.observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) {
        var on = e.isIntersecting, had = e.target.classList.contains('msg--breathing');
        if (on === had) return;
        e.target.classList.toggle('msg--breathing', on);
        S.visible += on ? 1 : -1;
      });
      breathe();
    }, {root: el.scroll});
  }

  function observe(node) { if (S.observer) S.observer.observe(node); }

  function unobserve(node) {
    if (S.observer) S.observer.unobserve(node);
    if (node.classList.contains('msg--breathing')) S.visible--;
  }

  P.breath = {start: start, breathe: breathe, observe: observe, unobserve: unobserve};
})(GhostsPlayer);
