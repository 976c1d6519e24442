/*!
 * DG.Logger: the browser side of the audit system. Plain JavaScript, no build step,
 * no dependency. Load it with a <script> tag; it defines window.DG.Logger:
 *
 *   let logger = new DG.Logger();
 *   let logger = new DG.Logger((m) => m.params['persistent'] = 'value');
 *   logger.log('HELLO WORLD', {test: 'value', 'foo': 'bar'});            // type "log"
 *   logger.log('HELLO WORLD', {test: 'value', 'foo': 'bar'}, 'my_log');  // any type
 *   logger.log('Error!', {'stackTrace': '...'}, 'error');
 *   logger.audit / usage / info / debug / warning (message, params)      // type "log"
 *   logger.error(messageOrError, params, stackTrace)                     // type "error"
 *   new DG.Logger(callback, {params: {...}, entities: [...]})            // defaults
 *
 * Delivery guarantees
 * -------------------
 * At least once, stored exactly once. Every event gets a UUID `id` and a client
 * `timestamp` when it is logged; the server stores an id once and counts repeats as
 * `duplicates`. So the logger may resend anything that might not have arrived, and
 * it does, rather than risk losing it:
 *
 * - One queue per page, shared by every logger of the page. It is written to
 *   localStorage (under a key of its own per page) as soon as the current task ends,
 *   and synchronously when the page is hidden or left. An event leaves the queue, and
 *   storage, only once the server answered 2xx for the request that carried it.
 * - Events are sent in batches, by count (`batchSize`, capped by the server's
 *   `limits.max_batch` and `max_body_bytes`) and by time (`flushInterval`), with a
 *   POST to /api/audit/events/ carrying the CSRF token (X-CSRFToken, from the csrftoken
 *   cookie that GET /api/audit/config/ sets) and the session cookie.
 * - Network failures, 5xx and 429 are retried with exponential backoff and jitter
 *   (after the Retry-After of a 429 or a 503, when given).
 *   A 400 or 413 for a whole batch halves the batch until the culprit is alone; an
 *   event refused alone is dropped with a console warning, so nothing blocks the
 *   queue. Events the server rejects one by one in its 202 answer are dropped the same
 *   way (retrying them could never succeed). 401/403: the logger re-reads its config
 *   (which renews the CSRF cookie) and goes quiet if the session is gone, keeping the
 *   queue for when its user is back.
 * - When the page is hidden or left (`visibilitychange`, `pagehide`), what is queued
 *   is sent at once with fetch(..., {keepalive: true}), in chunks within the 64 KiB
 *   that browsers allow keepalive requests in flight. Those answers are usually never
 *   read, so the events stay in storage and the next page of the site sends them
 *   again; the server drops the repeats. sendBeacon is never used: it cannot carry the
 *   CSRF header, and the session-authenticated API refuses a POST without it; where
 *   keepalive fetch is missing, the events simply wait in storage for the next page.
 * - Queues left by closed pages (or not touched for `staleAfter` ms, e.g. a crashed
 *   tab) are adopted by the next page that starts. Two tabs may adopt the same queue:
 *   the cost is a duplicate request, never a duplicate record.
 * - The queue is bounded (`maxQueue`): past it the oldest events are dropped and
 *   counted (DG.Logger.stats().dropped). Events older than `maxAge` are dropped too.
 * - Each event is tagged with the user of the page that logged it and sent only while
 *   the session belongs to that user, so a sign-out and sign-in as someone else never
 *   attributes one person's events to another. Signed-out pages never post. A page
 *   without data-user learns its user from its own config answer: what it logged
 *   before is that user's, or forgotten if the answer says signed out; no other page
 *   ever adopts such events of unknown user.
 * - When localStorage is full, the queue stays in memory (and is sent as usual); it is
 *   stored again at a later save. Storage alone never makes an event dropped.
 * - Params nested deeper than the server's `limits.max_params_depth` are cut on the
 *   client ('[Too deep]'), so the event is stored rather than refused.
 *
 * Remote switches: GET /api/audit/config/ is read at start, every `configRefresh` ms
 * and when the page becomes visible again. Types listed in `disabled_types` are
 * neither queued nor sent.
 *
 * Automatic errors: uncaught errors and unhandled promise rejections become `error`
 * records with their stack. The same error (message and first stack frame) is sent
 * once, then at most once per `errorInterval` with the number of repeats in
 * params.count, and at most `maxErrorsPerInterval` distinct errors per interval.
 *
 * Settings (defaults in DEFAULTS below) come from, in order: the data-* attributes of
 * the <script> tag (data-flush-interval="200"), window.DG_LOGGER_OPTIONS set before
 * the script runs, and DG.Logger.configure({...}) at any time. DG.Logger.flush()
 * sends now and resolves to true once nothing sendable is left; DG.Logger.stats()
 * reports counters.
 */
(function (global) {
  'use strict';

  var DG = (global.DG = global.DG || {});
  if (DG.Logger && DG.Logger.isAuditLogger) return; // loaded twice: keep the first

  var DEFAULTS = {
    eventsUrl: '/api/audit/events/',
    configUrl: '/api/audit/config/',
    csrfCookie: 'csrftoken',
    flushInterval: 2000, // ms an event may wait for companions before it is sent
    batchSize: 50, // events per request (the server's max_batch caps it)
    maxQueue: 1000, // events kept at most; the oldest go first
    maxAge: 7 * 24 * 3600 * 1000, // ms an unsent event is kept
    retryBase: 1000, // ms before the first retry; doubles up to retryMax
    retryMax: 60000,
    configRefresh: 60000, // ms between two reads of the config
    errorInterval: 60000, // ms of the automatic errors' rate limit
    maxErrorsPerInterval: 20,
    keepaliveBudget: 60000, // bytes of keepalive bodies in flight (browsers: 64 KiB)
    requestTimeout: 30000, // ms before a request that got no answer counts as failed
    staleAfter: 15000, // ms after which a silent page's stored queue is adopted
    heartbeat: 5000, // ms between two touches of this page's stored queue
    captureErrors: true,
    storagePrefix: 'dg-audit:v1:',
    debug: false,
  };
  var LEVELS = ['audit', 'usage', 'info', 'debug', 'warning', 'error'];
  var SERVER_LIMITS = {
    max_batch: 1000,
    max_body_bytes: 5 * 1024 * 1024,
    max_params_bytes: 16 * 1024,
    max_params_depth: 8, // containers nested in params, params itself being level 1
    max_message_length: 4096,
    max_stack_trace_length: 32 * 1024,
  };

  var settings = Object.assign({}, DEFAULTS);
  var pageUser; // username the page was rendered for; null: signed out; undefined: unknown
  var script = global.document && global.document.currentScript;
  if (script && script.dataset) {
    Object.keys(script.dataset).forEach(function (key) {
      if (key in DEFAULTS) settings[key] = coerce(script.dataset[key], DEFAULTS[key]);
    });
    if (script.dataset.authenticated === '0') pageUser = null;
    else if (script.dataset.user) pageUser = script.dataset.user;
  }
  if (global.DG_LOGGER_OPTIONS) applyOptions(global.DG_LOGGER_OPTIONS);

  function coerce(text, example) {
    if (typeof example === 'number') return Number(text);
    if (typeof example === 'boolean') return text !== 'false' && text !== '0';
    return text;
  }

  function applyOptions(options) {
    Object.keys(options || {}).forEach(function (key) {
      if (key in DEFAULTS) settings[key] = options[key];
      else if (key === 'user') pageUser = options.user;
    });
  }

  function debug() {
    if (settings.debug && global.console) console.debug.apply(console, arguments);
  }

  function warn() {
    if (global.console) console.warn.apply(console, arguments);
  }

  // ---------------------------------------------------------------- small helpers

  function randomBytes() {
    var c = global.crypto;
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return bytes;
  }

  function formatUuid(bytes, version) {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join('');
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20),
      hex.slice(20)].join('-');
  }

  function uuid4() {
    var c = global.crypto;
    if (c && typeof c.randomUUID === 'function') return c.randomUUID();
    return formatUuid(randomBytes(), 4);
  }

  /**
   * An event's id: UUIDv7, the millisecond first, then random bits. The server keeps
   * ids in a unique index; ids that start with the time are added at its end rather
   * than on a random page, which keeps ingest fast once the index is large.
   */
  function uuid7() {
    var bytes = randomBytes();
    var ms = Date.now();
    for (var i = 5; i >= 0; i--) {
      bytes[i] = ms % 256;
      ms = Math.floor(ms / 256);
    }
    return formatUuid(bytes, 7);
  }

  /** Bytes of a string once encoded as UTF-8, without allocating. */
  function utf8Length(text) {
    var bytes = 0;
    for (var i = 0; i < text.length; i++) {
      var code = text.charCodeAt(i);
      if (code < 0x80) bytes += 1;
      else if (code < 0x800) bytes += 2;
      else if (code >= 0xd800 && code < 0xdc00) { bytes += 4; i++; } // surrogate pair
      else bytes += 3;
    }
    return bytes;
  }

  // A half of a character outside the Basic Multilingual Plane (an emoji) without its
  // other half: not text, and the server refuses the event that holds one.
  var LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

  /** `text` with each lone surrogate replaced by U+FFFD. */
  function wellFormed(text) {
    return text.replace(LONE_SURROGATE, '\ufffd');
  }

  /** `text` cut to `limit` code units with an ellipsis, never between a pair's halves. */
  function truncate(text, limit) {
    text = wellFormed(text);
    if (text.length <= limit) return text;
    var end = limit - 1;
    var last = text.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end -= 1;
    return text.slice(0, end) + '\u2026';
  }

  var MAX_DEPTH = 16; // never walk deeper than this, whatever the server allows

  /**
   * A JSON-safe copy of `value`: no cycles, functions, DOM nodes or NaN. Containers
   * (objects, arrays) nested deeper than `maxDepth` levels (`value` itself is level 1;
   * at most 16) become '[Too deep]'.
   */
  function toPlain(value, ancestors, maxDepth) {
    if (!(maxDepth >= 1) || maxDepth > MAX_DEPTH) maxDepth = MAX_DEPTH;
    if (value === null) return null;
    switch (typeof value) {
      case 'string':
        return wellFormed(value);
      case 'boolean':
        return value;
      case 'number':
        return isFinite(value) ? value : String(value);
      case 'bigint':
        return value.toString();
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
    }
    if (ancestors.indexOf(value) >= 0) return '[Circular]';
    if (ancestors.length >= MAX_DEPTH) return '[Too deep]';
    if (value instanceof Error) {
      if (ancestors.length >= maxDepth) return '[Too deep]';
      return {name: value.name, message: value.message, stack: String(value.stack || '')};
    }
    if (global.Node && value instanceof global.Node) {
      return '[' + (value.nodeName || 'node').toLowerCase() + (value.id ? '#' + value.id : '') + ']';
    }
    if (typeof value.toJSON === 'function') {
      var json = value.toJSON();
      return json === value ? String(value) : toPlain(json, ancestors, maxDepth);
    }
    if (ancestors.length >= maxDepth) return '[Too deep]'; // a container past the limit
    ancestors.push(value);
    var out;
    if (Array.isArray(value) || value instanceof Set) {
      out = Array.from(value, function (item) {
        var plain = toPlain(item, ancestors, maxDepth);
        return plain === undefined ? null : plain;
      });
    } else {
      out = {};
      var entries = value instanceof Map ? Array.from(value.entries()) : Object.entries(value);
      entries.forEach(function (pair) {
        var plain = toPlain(pair[1], ancestors, maxDepth);
        if (plain !== undefined) out[wellFormed(String(pair[0]))] = plain;
      });
    }
    ancestors.pop();
    return out;
  }

  function readCookie(name) {
    var parts = (global.document && global.document.cookie ? global.document.cookie : '').split(';');
    for (var i = 0; i < parts.length; i++) {
      var pair = parts[i].trim();
      if (pair.slice(0, name.length + 1) === name + '=') {
        return decodeURIComponent(pair.slice(name.length + 1));
      }
    }
    return '';
  }

  function csrfToken() {
    return readCookie(settings.csrfCookie) || (script && script.dataset.csrfToken) || '';
  }

  // -------------------------------------------------------------------- storage

  function isQuotaError(e) {
    return !!e && (e.name === 'QuotaExceededError' || e.name === 'NS_ERROR_DOM_QUOTA_REACHED' ||
      e.code === 22 || e.code === 1014);
  }

  /**
   * This page's queue in localStorage, under a key of its own, so that two tabs
   * never overwrite each other's events. Writes are coalesced to one per task
   * (a loop of 1,000 log() calls writes once) and forced when the page goes away.
   */
  var store = {
    pageId: uuid4(),
    available: false,
    closed: false,
    pending: false,
    warned: false,
    full: false, // the last write failed (over the quota): the queue is in memory only

    key: function () {
      return settings.storagePrefix + 'q:' + this.pageId;
    },

    init: function () {
      try {
        var probe = settings.storagePrefix + 'probe';
        global.localStorage.removeItem(probe);
        global.localStorage.setItem(probe, '1');
        global.localStorage.removeItem(probe);
        this.available = true;
      } catch (e) {
        // Full (another part of the site filled it): usable once it has room again.
        // Else disabled storage, or a sandboxed frame: memory only.
        this.available = isQuotaError(e) && !!global.localStorage;
      }
    },

    /** Write soon: at the end of the current task. */
    save: function () {
      if (!this.available || this.pending) return;
      this.pending = true;
      var self = this;
      Promise.resolve().then(function () {
        if (self.pending) self.saveNow();
      });
    },

    saveNow: function () {
      this.pending = false;
      if (!this.available) return;
      var key = this.key();
      try {
        if (!queue.items.length) {
          global.localStorage.removeItem(key);
          return;
        }
        var entry = {t: Date.now(), closed: this.closed, items: queue.items};
        global.localStorage.setItem(key, JSON.stringify(entry));
        if (this.full) debug('DG.Logger: the queue is stored again.');
        this.full = false;
      } catch (e) {
        // Over the quota (or storage failing): the events stay in memory and are sent
        // as usual; the next save (any change, and the heartbeat) tries again. Never
        // drop events for this alone. What this page stored before stays, and is at
        // worst sent twice (the server stores an id once).
        this.full = true;
        if (!this.warned) {
          warn('DG.Logger: cannot store the queue in localStorage (kept in memory; ' +
            'will try again):', e);
        }
        this.warned = true;
      }
    },

    /** Take over the queues of pages that are gone (closed, or silent too long). */
    adopt: function () {
      if (!this.available) return [];
      var prefix = settings.storagePrefix + 'q:';
      var own = this.key();
      var found = [];
      var now = Date.now();
      try {
        for (var i = global.localStorage.length - 1; i >= 0; i--) {
          var key = global.localStorage.key(i);
          if (!key || key === own || key.indexOf(prefix) !== 0) continue;
          var entry;
          try {
            entry = JSON.parse(global.localStorage.getItem(key));
          } catch (bad) {
            entry = null;
          }
          if (entry && !entry.closed && now - entry.t < settings.staleAfter) continue;
          global.localStorage.removeItem(key);
          if (entry && Array.isArray(entry.items)) found = found.concat(entry.items);
        }
      } catch (e) {
        debug('DG.Logger: could not read stored queues', e);
      }
      return found;
    },

    readConfig: function () {
      if (!this.available) return null;
      try {
        return JSON.parse(global.localStorage.getItem(settings.storagePrefix + 'config'));
      } catch (e) {
        return null;
      }
    },

    writeConfig: function (config) {
      if (!this.available) return;
      try {
        global.localStorage.setItem(settings.storagePrefix + 'config', JSON.stringify(config));
      } catch (e) {
        debug('DG.Logger: could not store the config', e);
      }
    },
  };

  // ---------------------------------------------------------------------- queue

  /**
   * The page's one queue. An item is {u: username or null, e: event, s: bytes}; the
   * event is what is posted. `inflight` maps the ids being sent to how they are sent
   * ('fetch' or 'keepalive'), so that a normal flush never sends them twice at once.
   */
  var queue = {
    items: [],
    inflight: new Map(),
    keepaliveBytes: 0,
    config: null, // {user, disabled: Set of type names, limits}
    configState: 'pending', // 'pending' | 'ok' | 'failed' | 'quiet'
    quiet: false, // no session: never post
    sending: false,
    failures: 0,
    retryAt: 0,
    sizeCap: Infinity, // lowered by 413 answers, for the page's life
    splitLimit: Infinity, // lowered by 400 answers to isolate a bad event, then regrown
    configCsrf: undefined, // the CSRF cookie when the config was read (see sessionChanged)
    timer: null,
    configTimer: null,
    heartbeatTimer: null,
    waiters: [],
    counters: {logged: 0, sent: 0, dropped: 0, disabled: 0, rejected: 0, duplicates: 0, retries: 0},

    /** The user whose events may be sent now, once the config is known. */
    sendingUser: function () {
      if (this.quiet || !this.config) return undefined;
      return this.config.user;
    },

    /**
     * Django rotates the CSRF cookie when someone signs in. If it changed since the
     * config was read, the session may belong to someone else now (a sign-in in
     * another tab): read the config again before sending anything.
     */
    sessionChanged: function () {
      return this.configCsrf !== undefined && csrfToken() !== this.configCsrf;
    },

    isDisabled: function (type) {
      return !!(this.config && this.config.disabled.has(type));
    },

    limit: function (name) {
      var limits = (this.config && this.config.limits) || {};
      return typeof limits[name] === 'number' ? limits[name] : SERVER_LIMITS[name];
    },

    add: function (event) {
      // The page's user: from the page itself, else from this page's own fresh config
      // answer (a stored config may be someone else's session). Unknown yet: null,
      // and the item is attributed (or purged) when this page's config answers.
      var user = pageUser !== undefined ? pageUser
        : this.config && this.configState === 'ok' ? this.config.user : null;
      if (user === null && (pageUser === null || this.quiet)) {
        debug('DG.Logger: signed out, not recorded:', event.type, event.message);
        return null;
      }
      if (this.config && this.config.user === user && this.isDisabled(event.type)) {
        this.counters.disabled++;
        debug('DG.Logger: type switched off for this user:', event.type);
        return null;
      }
      this.counters.logged++;
      this.items.push({u: user, e: event, s: utf8Length(JSON.stringify(event)) + 1});
      if (this.items.length > settings.maxQueue) {
        this.dropOldest(this.items.length - settings.maxQueue, 'the queue is full');
      }
      store.save();
      this.schedule(this.sendable(this.batchLimit()).length >= this.batchLimit() ? 0 : null);
      return event.id;
    },

    dropOldest: function (count, why) {
      if (count <= 0) return;
      var gone = this.items.splice(0, count);
      this.counters.dropped += gone.length;
      warn('DG.Logger: ' + why + ': dropped the ' + gone.length + ' oldest events (' +
        this.counters.dropped + ' so far on this page).');
    },

    remove: function (ids) {
      var set = new Set(ids);
      var before = this.items.length;
      this.items = this.items.filter(function (item) {
        return !set.has(item.e.id);
      });
      if (this.items.length !== before) store.save();
    },

    /** Merge items from storage (this page's earlier life or other pages). */
    merge: function (found) {
      if (!found.length) return;
      var known = new Set(this.items.map(function (item) { return item.e.id; }));
      var oldest = Date.now() - settings.maxAge;
      var self = this;
      found.forEach(function (item) {
        if (!item || !item.e || !item.e.id || known.has(item.e.id)) return;
        if (item.u === undefined || item.u === null) {
          // Logged by another page before it knew its user: only that page could tell
          // whose it is, so it is never attributed here.
          debug('DG.Logger: not adopting an event of unknown user:', item.e.type, item.e.message);
          return;
        }
        if (Date.parse(item.e.timestamp) < oldest) {
          self.counters.dropped++;
          return;
        }
        known.add(item.e.id);
        if (!item.s) item.s = utf8Length(JSON.stringify(item.e)) + 1;
        self.items.push(item);
      });
      this.items.sort(function (a, b) {
        return a.e.timestamp < b.e.timestamp ? -1 : a.e.timestamp > b.e.timestamp ? 1 : 0;
      });
      if (this.items.length > settings.maxQueue) {
        this.dropOldest(this.items.length - settings.maxQueue, 'the queue is full');
      }
      store.save();
    },

    batchLimit: function () {
      return Math.max(1, Math.min(settings.batchSize, this.limit('max_batch'), this.sizeCap,
        this.splitLimit));
    },

    /** Items that may be sent now, oldest first, at most `count` and `bytes`. */
    sendable: function (count, bytes, includeFetches) {
      var user = this.sendingUser();
      if (user === undefined || user === null) return [];
      var out = [];
      var size = 2;
      for (var i = 0; i < this.items.length && out.length < count; i++) {
        var item = this.items[i];
        if (item.u !== user || this.isDisabled(item.e.type)) continue;
        var flight = this.inflight.get(item.e.id);
        if (flight && !(includeFetches && flight === 'fetch')) continue;
        if (bytes !== undefined && out.length && size + item.s > bytes) break;
        size += item.s;
        out.push(item);
      }
      return out;
    },

    /** Forget queued events of the types now switched off for the config's user. */
    purgeDisabled: function () {
      if (!this.config || !this.config.disabled.size) return;
      var self = this;
      var user = this.config.user;
      var before = this.items.length;
      this.items = this.items.filter(function (item) {
        var off = (item.u === user || item.u === null) && self.isDisabled(item.e.type);
        if (off) self.counters.disabled++;
        return !off;
      });
      if (this.items.length !== before) store.save();
    },

    /** Flush after `delay` ms (null: the flush interval), unless one is due sooner. */
    schedule: function (delay) {
      if (delay === null || delay === undefined) delay = settings.flushInterval;
      var wait = Math.max(delay, this.retryAt - Date.now(), 0);
      var due = Date.now() + wait;
      if (this.timer && this.timerDue <= due) return;
      clearTimeout(this.timer);
      var self = this;
      this.timerDue = due;
      this.timer = setTimeout(function () {
        self.timer = null;
        self.flush();
      }, wait);
    },

    /** Send one batch, then the next, until nothing sendable is left or a send fails. */
    flush: function () {
      if (this.sending || this.quiet) return;
      if (this.configState === 'pending') return; // the config answer flushes
      if (Date.now() < this.retryAt) {
        this.schedule(0);
        return;
      }
      if (this.sessionChanged()) {
        if (!this.configRetry) this.loadConfig(); // its answer flushes
        return;
      }
      var batch = this.sendable(this.batchLimit(), this.limit('max_body_bytes') - 64);
      if (!batch.length) {
        this.settleWaiters();
        return;
      }
      var self = this;
      this.sending = true;
      this.post(batch, false).then(function (outcome) {
        self.sending = false;
        if (outcome === 'ok' || outcome === 'split') self.flush();
        else self.settleWaiters(false);
      });
    },

    /**
     * POST `batch`; resolves to 'ok' (answered, or dropped as refused), 'split' (send
     * smaller batches) or 'retry' (backoff set). Never rejects.
     */
    post: function (batch, keepalive) {
      var self = this;
      var ids = batch.map(function (item) { return item.e.id; });
      var body = '[' + batch.map(function (item) { return JSON.stringify(item.e); }).join(',') + ']';
      var bytes = utf8Length(body);
      ids.forEach(function (id) { self.inflight.set(id, keepalive ? 'keepalive' : 'fetch'); });
      if (keepalive) this.keepaliveBytes += bytes;
      var request;
      var abort = !keepalive && global.AbortController ? new global.AbortController() : null;
      var timeout = abort && setTimeout(function () { abort.abort(); }, settings.requestTimeout);
      try {
        request = global.fetch(settings.eventsUrl, {
          method: 'POST',
          credentials: 'same-origin',
          keepalive: keepalive,
          signal: abort ? abort.signal : undefined,
          cache: 'no-store',
          headers: {
            'Content-Type': 'application/json',
            Accept: 'application/json',
            'X-CSRFToken': csrfToken(),
          },
          body: body,
        });
      } catch (e) {
        request = Promise.reject(e); // e.g. the keepalive budget is exhausted
      }
      return request.then(function (response) {
        return self.answer(batch, response);
      }, function (error) {
        debug('DG.Logger: network error, will retry', error);
        self.backoff();
        return 'retry';
      }).catch(function (error) {
        warn('DG.Logger: unexpected failure while sending; will retry', error);
        self.backoff();
        return 'retry';
      }).then(function (outcome) {
        clearTimeout(timeout);
        ids.forEach(function (id) { self.inflight.delete(id); });
        if (keepalive) self.keepaliveBytes -= bytes;
        return outcome;
      });
    },

    answer: function (batch, response) {
      var self = this;
      var status = response.status;
      if (status >= 200 && status < 300) {
        return response.json().catch(function () { return {}; }).then(function (result) {
          self.acknowledge(batch, result || {});
          return 'ok';
        });
      }
      if (status === 400 || status === 413) return this.refuse(batch, response);
      if (status === 401 || status === 403) {
        // A stale CSRF token or a session that ended: re-read the config, which
        // renews the CSRF cookie, or tells us to be quiet.
        this.backoff();
        this.loadConfig();
        return 'retry';
      }
      if (status === 429 || status === 503) {
        // Over a limit, or the database away for a moment: wait as long as we are told.
        var after = Number(response.headers.get('Retry-After'));
        this.backoff(isFinite(after) && after > 0 ? after * 1000 : 0);
        return 'retry';
      }
      // 5xx, or an unexpected 4xx (a proxy, a wrong URL): keep the events and retry.
      warn('DG.Logger: the server answered ' + status + '; retrying later.');
      this.backoff();
      return 'retry';
    },

    acknowledge: function (batch, result) {
      var self = this;
      (result.rejected || []).forEach(function (rejection) {
        var item = batch[rejection.index];
        self.counters.rejected++;
        warn('DG.Logger: the server refused an event; it is dropped:',
          item ? item.e : rejection.index, rejection.errors);
      });
      this.counters.sent += batch.length;
      this.counters.duplicates += result.duplicates || 0;
      this.failures = 0;
      this.retryAt = 0;
      if (this.splitLimit !== Infinity && batch.length >= this.splitLimit) {
        this.splitLimit = this.splitLimit * 2; // the refused part is behind us: grow back
        if (this.splitLimit >= settings.batchSize) this.splitLimit = Infinity;
      }
      this.remove(batch.map(function (item) { return item.e.id; }));
    },

    /**
     * 400/413 for a whole batch: halve it until one event is refused alone. A 413 is a
     * limit of the server (or a proxy) that the rest of the page keeps to.
     */
    refuse: function (batch, response) {
      var self = this;
      return response.text().catch(function () { return ''; }).then(function (text) {
        if (batch.length > 1) {
          var half = Math.max(1, Math.floor(batch.length / 2));
          if (response.status === 413) self.sizeCap = half; // a limit: keep to it
          else self.splitLimit = half; // find the bad event, then grow back
          debug('DG.Logger: batch refused (' + response.status + '), sending ' +
            half + ' at a time', text);
          return 'split';
        }
        self.counters.rejected++;
        warn('DG.Logger: the server refused an event (' + response.status + '); it is dropped:',
          batch[0].e, text);
        self.remove([batch[0].e.id]);
        return 'ok';
      });
    },

    /** Exponential backoff with jitter: half the delay fixed, half random. */
    backoff: function (atLeast) {
      this.failures++;
      this.counters.retries++;
      var delay = Math.min(settings.retryMax, settings.retryBase * Math.pow(2, this.failures - 1));
      delay = delay / 2 + Math.random() * (delay / 2);
      this.retryAt = Date.now() + Math.max(delay, atLeast || 0);
      this.schedule(0);
    },

    /**
     * The page is hidden or going away: send what is queued now, with keepalive
     * requests that outlive the page, within the keepalive budget. `leaving`: the
     * page is being unloaded, so ordinary requests in flight will be cancelled and
     * their events are sent again.
     */
    sendNow: function (leaving) {
      if (this.quiet || !this.config || this.sessionChanged()) return; // next page sends
      var budget = settings.keepaliveBudget - this.keepaliveBytes;
      var perRequest = Math.min(budget, this.limit('max_body_bytes')) - 64;
      var self = this;
      while (perRequest > 0) {
        var chunk = this.sendable(this.batchLimit(), perRequest, leaving);
        if (!chunk.length || chunk[0].s + 2 > perRequest) break; // wait for the next page
        this.post(chunk, true).then(function (outcome) {
          if (outcome !== 'ok') self.schedule(0);
        });
        budget = settings.keepaliveBudget - this.keepaliveBytes;
        perRequest = Math.min(budget, this.limit('max_body_bytes')) - 64;
      }
    },

    // ------------------------------------------------------------------ config

    loadConfig: function () {
      if (pageUser === null) return Promise.resolve(); // a signed-out page: no request
      if (this.configRequest) return this.configRequest;
      var self = this;
      clearTimeout(this.configRetry);
      this.configRetry = null;
      var abort = global.AbortController ? new global.AbortController() : null;
      var timeout = abort && setTimeout(function () { abort.abort(); }, settings.requestTimeout);
      this.configRequest = global.fetch(settings.configUrl, {
        credentials: 'same-origin',
        cache: 'no-store',
        headers: {Accept: 'application/json'},
        signal: abort ? abort.signal : undefined,
      }).then(function (response) {
        if (response.status === 401 || response.status === 403) {
          self.goQuiet();
          return;
        }
        if (!response.ok) throw new Error('the config answered ' + response.status);
        return response.json().then(function (data) {
          var config = {
            user: data.user,
            disabled_types: data.disabled_types || [],
            limits: data.limits || {},
          };
          self.configFailures = 0;
          self.configCsrf = csrfToken();
          self.useConfig(config, true);
          config.at = Date.now();
          store.writeConfig(config);
        });
      }).catch(function (error) {
        // Keep the last config (or the stored one) and try again with backoff.
        debug('DG.Logger: could not read the config', error);
        if (self.configState === 'pending') self.configState = 'failed';
        self.configFailures = (self.configFailures || 0) + 1;
        var delay = Math.min(settings.retryMax,
          settings.retryBase * Math.pow(2, self.configFailures - 1));
        self.configRetry = setTimeout(function () {
          self.configRetry = null;
          self.loadConfig();
        }, delay / 2 + Math.random() * (delay / 2));
      }).then(function () {
        clearTimeout(timeout);
        self.configRequest = null;
        self.schedule(0);
      });
      return this.configRequest;
    },

    useConfig: function (data, fresh) {
      var wasQuiet = this.quiet;
      this.config = {
        user: data.user,
        disabled: new Set(data.disabled_types || []),
        limits: data.limits || {},
      };
      if (fresh) {
        this.configState = 'ok';
        this.quiet = false;
        if (wasQuiet) this.startTimers();
        this.attributeUnknown(data.user);
      }
      this.purgeDisabled();
    },

    /**
     * This page's own config answered: the events it logged before it knew its user
     * (u: null; never another page's, see merge) are that user's. With no user, they
     * belong to no one: forgotten.
     */
    attributeUnknown: function (user) {
      var changed = false;
      var kept = [];
      this.items.forEach(function (item) {
        if (item.u !== null && item.u !== undefined) kept.push(item);
        else {
          changed = true;
          if (typeof user === 'string' && user) {
            item.u = user;
            kept.push(item);
          }
        }
      });
      if (changed) {
        if (kept.length !== this.items.length) {
          debug('DG.Logger: signed out: forgot ' + (this.items.length - kept.length) +
            ' events logged before the page knew its user.');
        }
        this.items = kept;
        store.save();
      }
    },

    goQuiet: function () {
      this.quiet = true;
      this.configState = 'quiet';
      clearTimeout(this.timer);
      this.timer = null;
      this.attributeUnknown(null); // a visitor's events: never anyone else's
      debug('DG.Logger: no session; not posting (events stay queued for their user).');
      this.settleWaiters();
    },

    startTimers: function () {
      var self = this;
      clearInterval(this.configTimer);
      clearInterval(this.heartbeatTimer);
      this.configTimer = setInterval(function () {
        if (global.document.visibilityState !== 'hidden') {
          self.merge(store.adopt());
          self.loadConfig();
        }
      }, settings.configRefresh);
      this.heartbeatTimer = setInterval(function () {
        if (self.items.length) store.save();
      }, settings.heartbeat);
    },

    /** Resolve DG.Logger.flush() promises: true if nothing sendable is left. */
    settleWaiters: function (result) {
      if (!this.waiters.length || this.sending) return;
      var done = result === undefined
        ? !!this.config && !this.quiet && !this.sendable(1).length
        : result;
      var waiters = this.waiters;
      this.waiters = [];
      waiters.forEach(function (resolve) { resolve(done); });
    },

    start: function () {
      store.init();
      var self = this;
      if (pageUser === null) {
        // A signed-out page: never post, never touch the stored queues of others.
        this.goQuiet();
        return;
      }
      var cached = store.readConfig();
      if (cached && cached.user && (pageUser === undefined || cached.user === pageUser)) {
        this.useConfig(cached, false);
      }
      this.merge(store.adopt());
      this.loadConfig();
      this.startTimers();

      global.addEventListener('pagehide', function () {
        store.closed = true; // another page may adopt what is left
        store.saveNow();
        self.sendNow(true);
      });
      global.addEventListener('pageshow', function (event) {
        if (!event.persisted) return; // restored from the back/forward cache
        store.closed = false;
        self.merge(store.adopt());
        store.saveNow();
        self.loadConfig();
      });
      global.document.addEventListener('visibilitychange', function () {
        if (global.document.visibilityState === 'hidden') {
          store.saveNow();
          self.sendNow(false);
        } else {
          self.merge(store.adopt());
          self.loadConfig();
        }
      });
      global.addEventListener('online', function () {
        self.retryAt = 0;
        self.schedule(0);
      });
    },
  };

  // ------------------------------------------------------------------- the API

  /**
   * A logger. `callback(m)` may change each message before it is queued:
   * m = {message, params, type, level, stackTrace, entities}. `options.params` and
   * `options.entities` are added to every event; `options.type` is the default type.
   * The first argument may be the options object itself.
   */
  function Logger(callback, options) {
    if (!(this instanceof Logger)) return new Logger(callback, options);
    if (callback && typeof callback === 'object') {
      options = callback;
      callback = null;
    }
    options = options || {};
    this.callback = typeof callback === 'function' ? callback : null;
    this.params = options.params || {};
    this.entities = options.entities || [];
    this.type = options.type || 'log';
  }

  /** Queue one event; returns its id, or null when it is not recorded. */
  Logger.prototype.log = function (message, params, type, extra) {
    extra = extra || {};
    var m = {
      message: message === undefined || message === null ? '' : String(message),
      params: Object.assign({}, this.params, params && typeof params === 'object' ? params : {}),
      type: type || this.type,
      level: extra.level,
      stackTrace: extra.stackTrace,
      entities: this.entities.concat(extra.entities || []),
    };
    if (params !== undefined && params !== null && typeof params !== 'object') m.params.value = params;
    if (this.callback) {
      try {
        this.callback(m);
      } catch (e) {
        warn('DG.Logger: the logger callback failed:', e);
      }
    }
    return queue.add(buildEvent(m));
  };

  LEVELS.forEach(function (level) {
    if (level === 'error') return;
    Logger.prototype[level] = function (message, params) {
      return this.log(message, params, 'log', {level: level});
    };
  });

  /** An `error` record; an Error gives its message ("TypeError: ...") and stack. */
  Logger.prototype.error = function (messageOrError, params, stackTrace) {
    var message = messageOrError;
    if (messageOrError instanceof Error ||
        (messageOrError && typeof messageOrError === 'object' && 'stack' in messageOrError)) {
      message = (messageOrError.name || 'Error') + ': ' + messageOrError.message;
      if (stackTrace === undefined || stackTrace === null) stackTrace = messageOrError.stack;
    }
    return this.log(message, params, 'error', {level: 'error', stackTrace: stackTrace});
  };

  /** The event as posted, within the server's limits, from a callback's message. */
  function buildEvent(m) {
    // The server refuses params nested deeper than its max_params_depth (the config's
    // limits; the built-in default until the config answered): cut them here, so the
    // event is stored with the deep part replaced by '[Too deep]'.
    var depth = queue.limit('max_params_depth');
    var raw = m.params && typeof m.params === 'object' ? m.params : {};
    var params = toPlain(raw, [], depth);
    if (!params || typeof params !== 'object' || Array.isArray(params)) {
      params = toPlain({value: raw}, [], depth); // one level more for the wrapper
    }
    var paramsBytes = utf8Length(JSON.stringify(params));
    if (paramsBytes > queue.limit('max_params_bytes')) {
      warn('DG.Logger: params of "' + m.message + '" are ' + paramsBytes +
        ' bytes, over the limit; they are replaced by a note.');
      params = {truncated: true, bytes: paramsBytes};
    }
    var event = {
      id: uuid7(),
      timestamp: new Date().toISOString(),
      type: String(m.type || 'log'),
      message: truncate(String(m.message === undefined || m.message === null ? '' : m.message),
        queue.limit('max_message_length')),
      params: params,
    };
    if (LEVELS.indexOf(m.level) >= 0) event.level = m.level;
    if (m.stackTrace !== undefined && m.stackTrace !== null && m.stackTrace !== '') {
      event.stackTrace = truncate(String(m.stackTrace), queue.limit('max_stack_trace_length'));
    }
    if (Array.isArray(m.entities) && m.entities.length) event.entities = toPlain(m.entities, []);
    return event;
  }

  // ---------------------------------------------------------- automatic errors

  var errors = {
    logger: new Logger(),
    seen: new Map(), // key -> {repeats, event}
    distinct: 0,
    overflow: 0,
    windowTimer: null,

    capture: function (error, fallbackMessage, where, source) {
      var message;
      var stack = '';
      if (error instanceof Error || (error && typeof error === 'object' && 'message' in error)) {
        message = (error.name || 'Error') + ': ' + error.message;
        stack = String(error.stack || '');
      } else if (error !== undefined && error !== null) {
        var plain = toPlain(error, []);
        message = typeof plain === 'string' ? plain : JSON.stringify(plain);
      } else {
        message = fallbackMessage || 'Unknown error';
      }
      if (source === 'unhandledrejection') message = 'Unhandled rejection: ' + message;
      if (!stack && where) stack = '    at ' + where;
      var firstFrame = stack.split('\n').filter(function (line) {
        return /\bat\b|@/.test(line);
      })[0] || '';
      var key = message + '|' + firstFrame.trim();
      var entry = this.seen.get(key);
      if (entry) {
        entry.repeats++;
        return;
      }
      if (this.distinct >= settings.maxErrorsPerInterval) {
        this.overflow++;
        return;
      }
      this.distinct++;
      entry = {repeats: 0, message: message, stack: stack, source: source};
      this.seen.set(key, entry);
      this.send(entry, 1);
      this.startWindow();
    },

    send: function (entry, count) {
      this.logger.error(entry.message, {
        source: entry.source,
        url: global.location ? global.location.pathname : '',
        count: count,
      }, entry.stack);
    },

    /** At the end of each interval, one record per error that repeated. */
    startWindow: function () {
      if (this.windowTimer) return;
      var self = this;
      this.windowTimer = setTimeout(function () {
        self.windowTimer = null;
        var again = false;
        self.seen.forEach(function (entry, key) {
          if (entry.repeats > 0) {
            self.send(entry, entry.repeats);
            entry.repeats = 0;
            again = true;
          } else {
            self.seen.delete(key);
          }
        });
        if (self.overflow) {
          self.logger.error('Too many distinct errors: ' + self.overflow + ' more not recorded',
            {source: 'rate-limit', count: self.overflow});
          self.overflow = 0;
        }
        self.distinct = self.seen.size;
        if (again || self.seen.size) self.startWindow();
      }, settings.errorInterval);
    },

    install: function () {
      var self = this;
      global.addEventListener('error', function (event) {
        // Failed images or scripts do not bubble to window; only script errors arrive.
        if (!settings.captureErrors || !(event instanceof global.ErrorEvent)) return;
        var where = event.filename ? event.filename + ':' + event.lineno + ':' + event.colno : '';
        self.safely(event.error, event.message, where, 'error');
      });
      global.addEventListener('unhandledrejection', function (event) {
        if (!settings.captureErrors) return;
        self.safely(event.reason, 'Unhandled promise rejection', '', 'unhandledrejection');
      });
    },

    safely: function (error, message, where, source) {
      if (this.busy) return; // an error while recording an error: give up, no loop
      this.busy = true;
      try {
        this.capture(error, message, where, source);
      } catch (e) {
        debug('DG.Logger: could not record an error', e);
      } finally {
        this.busy = false;
      }
    },
  };

  // ---------------------------------------------------------------- static API

  Logger.isAuditLogger = true;

  /** Change settings at any time (see DEFAULTS), e.g. {flushInterval: 200}. */
  Logger.configure = function (options) {
    var timersChanged = options && ('configRefresh' in options || 'heartbeat' in options);
    applyOptions(options);
    if (timersChanged && !queue.quiet) queue.startTimers();
    queue.schedule(null);
    return Object.assign({}, settings);
  };

  /** Send now; resolves to true once nothing sendable is left (false if a send failed). */
  Logger.flush = function () {
    return new Promise(function (resolve) {
      queue.waiters.push(resolve);
      queue.retryAt = 0;
      if (queue.quiet) queue.settleWaiters(false);
      else if (queue.configState === 'pending') return; // the config answer flushes
      else if (!queue.sending) queue.flush(); // else the running flush settles waiters
    });
  };

  /** Counters and state, for diagnostics and tests. */
  Logger.stats = function () {
    return Object.assign({
      queued: queue.items.length,
      inflight: queue.inflight.size,
      failures: queue.failures,
      quiet: queue.quiet,
      config: queue.configState,
      user: queue.config ? queue.config.user : pageUser === undefined ? null : pageUser,
      disabledTypes: queue.config ? Array.from(queue.config.disabled) : [],
    }, queue.counters);
  };

  DG.Logger = Logger;
  queue.start();
  errors.install();
})(typeof window !== 'undefined' ? window : this);
