/* ghosts-render chat player, part 2 of 7: drawing. Message elements, the window of at most
 * `max_messages` of them, the writing bubble, the "new messages" pill and the lightbox.
 * Text goes in with textContent only; media paths must be relative paths inside the archive.
 */
(function (P) {
  'use strict';

  var LIVE_WINDOW = 1500;   // ms: a message older than this when it appears is backlog (no sound)
  var BOTTOM_SLACK = 24;    // px: this close to the bottom counts as "at the bottom" (autoscroll)
  var MAX_HISTORY = 1000;   // messages: most extra history kept while the reader scrolls up
  var S = P.state, el = P.el;
  var timeFmt = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
  var roleCache = {};      // roleOf memo: derived from the data, never changes

  function make(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** How a sender is shown: label, side and a colour the browser accepts (else none). */
  function roleOf(name) {
    if (!(name in roleCache)) {
      var r = P.data.roles[name] || {};
      var ok = typeof r.color === 'string' && window.CSS && CSS.supports('color', r.color);
      roleCache[name] = {label: String(r.label || name), side: r.side === 'right' ? 'right' : 'left',
        color: ok ? r.color : ''};
    }
    return roleCache[name];
  }

  function selfieNode(s, sender) {
    var src = Ghosts.safeRel(s.src);
    if (!src) return null;
    var alt = String(s.alt || 'AI-generated selfie of ' + sender);
    var btn = make('button', 'msg__selfie');
    btn.type = 'button';
    btn.setAttribute('aria-label', 'enlarge: ' + alt);
    btn.dataset.full = src;
    var pic = make('picture');
    var webp = Ghosts.safeRel(s.webp);
    if (webp) {
      var source = make('source');
      source.type = 'image/webp';
      source.srcset = webp.replace(/[\s,]/g, encodeURIComponent);   // srcset splits at , and space
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
    var msgs = P.data.msgs, m = msgs[i], prev = msgs[i - 1], role = roleOf(m.sender);
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
    P.breath.observe(node);
    return node;
  }

  /** A message that cannot be drawn (bad data) becomes a placeholder instead of stopping the chat. */
  function safeNode(i, loopStart) {
    try {
      return messageNode(i, loopStart + P.data.msgs[i].at);
    } catch (err) {
      P.kiosk.report(err);
      var node = make('div', 'msg msg--left msg--broken');
      node.dataset.messageId = String(P.data.msgs[i] && P.data.msgs[i].id);
      node.dataset.sender = '';
      node.appendChild(make('p', 'msg__text', '(this message could not be shown)'));
      return node;
    }
  }

  function removeNode(node) {
    P.breath.unobserve(node);
    node.remove();
  }

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
    S.lo = Math.max(0, hi - P.data.cap + 1);
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

  /** Remove the oldest messages beyond the cap (plus history the reader asked for). */
  function trim(bottom) {
    var keep = P.data.cap + S.extra;
    if (S.hi - S.lo + 1 <= keep) return updateOlder();
    // Keep the reader's place when rows vanish above it by hand: Safari has no scroll anchoring
    // (overflow-anchor, https://bugs.webkit.org/show_bug.cgi?id=171099). At the bottom nothing
    // is measured: one forced layout per tick is the main cost of a 12 hour run.
    var before = bottom ? 0 : el.scroll.scrollHeight;
    while (S.hi - S.lo + 1 > keep && el.log.firstChild) {
      removeNode(el.log.firstChild);
      S.lo++;
    }
    if (!bottom) el.scroll.scrollTop -= before - el.scroll.scrollHeight;
    updateOlder();
  }

  function updateOlder() { el.older.hidden = S.lo <= 0; }

  /** Prepend up to `max_messages` earlier messages of this loop (history beyond the cap). */
  function showOlder() {
    var n = Math.min(P.data.cap, S.lo, MAX_HISTORY - S.extra);
    if (n <= 0) return;
    var w = P.clock.where(), loopStart = w.wall - w.pos, before = el.scroll.scrollHeight;
    var frag = document.createDocumentFragment();
    for (var i = S.lo - n; i < S.lo; i++) frag.appendChild(safeNode(i, loopStart));
    el.log.insertBefore(frag, el.log.firstChild);
    S.lo -= n;
    S.extra += n;
    el.scroll.scrollTop += el.scroll.scrollHeight - before;
    updateOlder();
  }

  /** The reader scrolled back to the bottom: let the extra history go again. */
  function backAtBottom() {
    el.pill.hidden = true;
    S.unseen = 0;
    if (S.extra) { S.extra = 0; trim(true); }
  }

  function hideWriting() {
    el.writing.hidden = true;
    delete el.writing.dataset.writing;
  }

  function updateWriting(pos) {
    var msgs = P.data.msgs, next = msgs[S.hi + 1], w = el.writing;
    if (!(next && next.writing_at <= pos && pos < next.at)) {
      if (!w.hidden) hideWriting();
      return;
    }
    var role = roleOf(next.sender), last = msgs[S.hi];
    w.className = 'msg msg--writing msg--' + role.side +
      (!last || last.sender !== next.sender ? ' msg--spaced' : '');
    if (role.color) w.style.setProperty('--role-color', role.color);
    w.dataset.writing = String(next.sender);
    w.hidden = false;
  }

  /** Draw the moment w: rebuild after a jump, else append what became due (sound if live). */
  function render(w, silent) {
    var hi = P.clock.lastShown(w.pos), bottom = atBottom();   // measured before anything grows
    if (w.loop !== S.loop || hi < S.hi || hi - S.hi > P.data.cap) {
      rebuild(hi, w);
      bottom = true;
    } else if (hi > S.hi) {
      var added = append(hi, w), m = P.data.msgs[hi];
      if (!silent && added === 1 && w.pos - m.at < LIVE_WINDOW) P.sound.playFor(m);
      trim(bottom);
      if (!bottom) {
        S.unseen += added;
        el.pill.textContent = S.unseen + (S.unseen === 1 ? ' new message ↓' : ' new messages ↓');
        el.pill.hidden = false;
      }
    }
    updateWriting(w.pos);
    if (bottom) el.scroll.scrollTop = el.scroll.scrollHeight;
  }

  function openLightbox(btn) {
    var img = btn.querySelector('img');
    var big = make('img');
    big.src = btn.dataset.full;
    big.alt = img ? img.alt : '';
    big.width = img ? img.width : 512;
    big.height = img ? img.height : 512;
    el.frame.replaceChildren(big);
    S.opener = btn;
    el.lightbox.showModal();
    el.close.focus();
  }

  function closedLightbox() {
    el.frame.replaceChildren();
    var back = S.opener && S.opener.isConnected ? S.opener : el.scroll;
    S.opener = null;
    back.focus();
  }

  P.view = {make: make, render: render, atBottom: atBottom, toBottom: toBottom,
    backAtBottom: backAtBottom, showOlder: showOlder, hideWriting: hideWriting,
    openLightbox: openLightbox, closedLightbox: closedLightbox};
})(GhostsPlayer);
