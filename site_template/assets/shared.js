/* ghosts-render: the helpers the chat (player*.js) and the other pages (pages.js) share.
 *
 * A classic script, loaded before them: module scripts and fetch() do not load from file://
 * (Chromium: "origin 'null' ... only supported for protocol schemes: http, https"; Firefox:
 * https://developer.mozilla.org/docs/Web/HTTP/CORS/Errors/CORSRequestNotHttp), and an archive
 * must play straight from disk. It defines one global, `Ghosts`, and inserts nothing as HTML.
 */
var Ghosts = (function () {
  'use strict';

  /**
   * The page's words in the archive's language (assets/strings.js, written by `ghosts-render
   * site` from site_template/strings/): t('chat.sound'), with {name} filled from vars. A key the
   * table lacks comes back as itself, so a missing word shows (and a test sees it).
   */
  function t(key, vars) {
    var table = window.GHOSTS_STRINGS || {};
    var text = Object.prototype.hasOwnProperty.call(table, key) ? String(table[key]) : key;
    return !vars ? text : text.replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : all;
    });
  }

  /** src if it is a relative path inside the archive, else '' (no scheme, no absolute path). */
  function safeRel(src) {
    return typeof src === 'string' && src !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(src) &&
      !/^[\/\\]/.test(src) && src.indexOf('\\') < 0 ? src : '';
  }

  /** The local calendar day of an instant (ms) as YYYY-MM-DD: the exhibition's dates and ?day=. */
  function localDay(ms) {
    var d = new Date(ms);
    return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' +
      String(d.getDate()).padStart(2, '0');
  }

  /** One of the favicon variants at random, as the original site did (favicon00-17). */
  function randomFavicon() {
    var link = document.querySelector('link[rel="icon"][data-variants]');
    var list = link ? link.dataset.variants.split(/\s+/).filter(safeRel) : [];
    if (list.length > 1) link.href = list[Math.floor(Math.random() * list.length)];
  }

  /**
   * Register the service worker beside the page, scoped to the archive's folder. Over http(s)
   * only: from file:// Chromium refuses ("The URL protocol of the current origin ('null') is not
   * supported") although navigator.serviceWorker exists.
   */
  function registerServiceWorker() {
    var meta = document.querySelector('meta[name="ghosts:service-worker"]');
    var src = meta && safeRel(meta.content);
    if (!src || !/^https?:$/.test(location.protocol) || !('serviceWorker' in navigator)) return;
    navigator.serviceWorker.register(src, {scope: './'}).catch(function (err) {
      console.warn('ghosts: service worker not registered: ' + (err && err.message || err));
    });
  }

  return {
    t: t,
    safeRel: safeRel,
    localDay: localDay,
    randomFavicon: randomFavicon,
    registerServiceWorker: registerServiceWorker
  };
})();
