/* ghosts-render pages (about, transcript, link, lost): small progressive enhancements.
   Every page works without this file; nothing here inserts generated text as HTML.
   Uses shared.js (Ghosts), loaded before it. */
(function () {
  'use strict';
  const root = document.documentElement;
  root.classList.add('js');

  /** Sidenote buttons: toggle their note (inline below 70em, highlighted in the margin above). */
  function sidenotes() {
    document.querySelectorAll('.sidenote-ref').forEach(function (button) {
      button.addEventListener('click', function () {
        const open = button.getAttribute('aria-expanded') !== 'true';
        button.setAttribute('aria-expanded', String(open));
        button.parentElement.classList.toggle('sidenote-wrap--open', open);
      });
    });
  }

  /** Breathing type only for paragraphs on screen, as the original observed them. */
  function breathing() {
    const targets = document.querySelectorAll('.breathe, .doc-body p, .doc-body blockquote');
    if (!targets.length || !('IntersectionObserver' in window)) return;
    const observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { e.target.classList.toggle('is-breathing', e.isIntersecting); });
    });
    targets.forEach(function (t) { observer.observe(t); });
  }

  /** Link page with a day key: show today's QR code (one is pre-drawn per exhibition day). */
  function todaysCode() {
    const codes = document.querySelectorAll('.link__code[data-day]');
    if (codes.length < 2) return;
    const today = Ghosts.localDay(Date.now());
    const match = Array.prototype.find.call(codes, function (c) { return c.dataset.day === today; });
    if (!match) return;
    codes.forEach(function (c) { c.hidden = c !== match; });
  }

  function transcriptPage(index, size) {
    const n = Math.floor(index / size);
    return n === 0 ? 'transcript.html' : 'transcript-' + (n + 1) + '.html';
  }

  function fold(text) {
    return text.normalize('NFKC').toLocaleLowerCase();
  }

  /** Search every message of the conversation (all transcript pages), shown as text only. */
  function search() {
    const box = document.querySelector('.search');
    const data = window.GHOSTS_CONVERSATION;
    if (!box || !data || !Array.isArray(data.messages)) return;
    const input = document.getElementById('search-input');
    const status = document.getElementById('search-status');
    const list = document.getElementById('search-results');
    const size = Number(box.dataset.pageSize) || 1000;
    const roles = data.roles || {};
    const limit = 200;
    box.hidden = false;
    let timer = 0;
    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(run, 150);
    });
    function run() {
      const query = fold(input.value.trim());
      list.replaceChildren();
      if (!query) { status.textContent = ''; return; }
      let found = 0;
      data.messages.forEach(function (m, i) {
        const label = (roles[m.sender] && roles[m.sender].label) || m.sender;
        if (fold(String(m.text)).indexOf(query) < 0 && fold(String(label)).indexOf(query) < 0) return;
        found += 1;
        if (found > limit) return;
        const item = document.createElement('li');
        item.dataset.messageId = m.id;
        const link = document.createElement('a');
        link.href = transcriptPage(i, size) + '#' + encodeURIComponent(m.id);
        link.textContent = label + ': ' + m.text;
        link.dir = 'auto';
        item.appendChild(link);
        list.appendChild(item);
      });
      status.textContent = found === 0 ? 'no message matches'
        : found + (found === 1 ? ' message matches' : ' messages match')
          + (found > limit ? ' (the first ' + limit + ' are listed)' : '');
    }
  }

  /** Transcript: one <audio> element for every voice; pressing another button stops the first. */
  function voices() {
    const audio = document.getElementById('voice');
    const buttons = document.querySelectorAll('.t-msg__play[data-voice]');
    if (!audio || !buttons.length) return;
    let current = null;
    // The name says what a press does ("play …", then "stop …"); no aria-pressed besides: a
    // toggle's name must not change with its state, or it is read as "stop …, pressed".
    function show(button, playing) {
      button.textContent = playing ? 'stop' : 'play';
      button.classList.toggle('t-msg__play--playing', playing);
      button.setAttribute('aria-label',
        (playing ? 'stop ' : 'play ') + button.dataset.messageId + "'s voice");
    }
    function stop() {
      if (!current) return;
      audio.pause();
      show(current, false);
      current = null;
    }
    function play(button) {
      const src = Ghosts.safeRel(button.dataset.voice);
      const again = current === button;
      stop();
      if (again || !src) return;   // a second press on the playing one stops it
      current = button;
      show(button, true);
      audio.src = src;
      const p = audio.play();
      if (p && p.catch) p.catch(function () { if (current === button) stop(); });
    }
    buttons.forEach(function (button) {
      button.hidden = false;
      button.addEventListener('click', function () { play(button); });
    });
    audio.addEventListener('ended', stop);
  }

  function start() {
    Ghosts.randomFavicon();
    Ghosts.registerServiceWorker();
    sidenotes();
    breathing();
    todaysCode();
    search();
    voices();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
