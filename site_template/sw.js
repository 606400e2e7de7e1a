/* ghosts-render service worker: plays the archive offline once visited (http(s) only).
   Registered from the archive's folder with scope './', it controls that folder alone: a worker
   cannot claim a scope above its own folder without a Service-Worker-Allowed header, which static
   hosts such as GitHub Pages cannot send
   (https://developer.mozilla.org/en-US/docs/Web/API/ServiceWorkerContainer/register).
   Written by `ghosts-render site` with the list of every file of the archive; a new list gives a
   new VERSION, hence a new cache, and the old one is dropped on activation. */
'use strict';

const VERSION = {{ version|tojson }};
const PRECACHE = {{ precache|tojson }};
// Large media (selfies, voices): cached the first time the page shows or plays them, not at install.
const LAZY = new Set({{ lazy|tojson }}.map((url) => new URL(url, self.registration.scope).href));
// Caches are per origin, not per folder: name them by scope so two archives on one host
// (two sub-paths) never delete each other's files.
const PREFIX = 'ghosts-render ' + self.registration.scope + ' ';
const CACHE = PREFIX + VERSION;

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(CACHE)
      // cache: 'reload' skips the HTTP cache, so a new version never precaches stale files.
      .then((cache) => cache.addAll(PRECACHE.map((url) => new Request(url, {cache: 'reload'}))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(
        keys.filter((key) => key.startsWith(PREFIX) && key !== CACHE).map((key) => caches.delete(key))
      ))
      .then(() => self.clients.claim())
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith(respond(request));
});

async function respond(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  // Query strings (?t=, ?kiosk=1, ?day=) select a moment, not a file: match without them.
  const key = url.pathname.endsWith('/') ? new URL('index.html', url).href : url.href.split(/[?#]/)[0];
  const cached = await cache.match(key, {ignoreSearch: true});
  if (!cached) return LAZY.has(key) ? fetchAndKeep(cache, key, request) : fetch(request);
  const range = request.headers.get('range');
  return range ? partial(cached, range) : cached;
}

// A media element asks for a range ("bytes=0-"), and a 206 cannot be cached as the whole file:
// fetch the whole file once, keep it, and answer the range from it.
async function fetchAndKeep(cache, key, request) {
  const range = request.headers.get('range');
  const response = await fetch(range ? new Request(key, {cache: 'no-store'}) : request);
  if (response.status !== 200) return response;
  await cache.put(key, response.clone());
  return range ? partial(response, range) : response;
}

// Media elements ask for byte ranges and Safari refuses a 200 in reply, so answer 206 from the
// cached file (the workbox-range-requests pattern; workbox issue #1663).
async function partial(response, range) {
  const blob = await response.blob();
  const size = blob.size;
  const match = /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!match || (match[1] === '' && match[2] === '')) {
    return new Response(blob, {status: 200, headers: response.headers});
  }
  const start = match[1] === '' ? Math.max(0, size - Number(match[2])) : Number(match[1]);
  const end = match[1] !== '' && match[2] !== '' ? Math.min(Number(match[2]), size - 1) : size - 1;
  if (start >= size || start > end) {
    return new Response(null, {status: 416, headers: {'Content-Range': 'bytes */' + size}});
  }
  return new Response(blob.slice(start, end + 1), {
    status: 206,
    statusText: 'Partial Content',
    headers: {
      'Content-Type': response.headers.get('Content-Type') || 'application/octet-stream',
      'Content-Range': 'bytes ' + start + '-' + end + '/' + size,
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
    },
  });
}
