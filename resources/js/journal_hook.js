/*
 * lockdown journal hook: mirrors every SCORM save the page makes into the app's on-device journal.
 *
 * Injected by the UI at DocumentCreation, in every frame, in the MainWorld (the LMS's own world),
 * before any page script runs. It
 *   - wraps window.API_1484_11 (SCORM 2004) and window.API (SCORM 1.2) whenever the LMS assigns
 *     them (an accessor property on window wraps the object on assignment; the methods are wrapped
 *     on the object itself, so identity is kept -- except for a frozen object, which is replaced
 *     by an object inheriting from it);
 *   - mirrors localStorage.setItem for keys numbas-lti-attempt-<pk>-scorm-data (the Numbas LTI
 *     provider's unconfirmed batches);
 *   - observes POSTs to /mod/scorm/datamodel.php (Moodle's synchronous save) and their outcome;
 *   - observes fetch() calls to the Numbas provider's /attempt/<pk>/scorm_data_fallback URL.
 * Every observation is passed to window.__lockdownRecord(entry), defined by the UI's QWebChannel
 * bridge; until it exists, entries are queued and flushed in order when it is assigned.
 *
 * Guarantees towards the page: the record is made BEFORE the original SetValue/Commit runs; the
 * original is called with the same `this` and arguments, and its return value (or exception) is
 * passed through unchanged; nothing this hook does can throw into the page.
 *
 * Entry objects (all carry: type, page = random id of this document, seq = per-document counter,
 * time = Date.now() in ms, url = location.href of this window):
 *   {type: "set",      api: "scorm2004"|"scorm12", key, value, ctx?}   before SetValue/LMSSetValue
 *   {type: "rejected", api, ref}          the call recorded as seq=ref returned "false" or threw
 *   {type: "commit",   api, ctx?}                                      before Commit/LMSCommit
 *   {type: "get",      api, key, value, ctx?}  first GetValue of a key not yet set on this page
 *   {type: "storage",  key, value}        before localStorage.setItem(numbas-lti-attempt-*-...)
 *   {type: "save-request", endpoint, body}           before a POST to .../mod/scorm/datamodel.php
 *   {type: "save-result",  endpoint, body, status, response}   its outcome (status 0: no answer)
 *   {type: "save-context", endpoint}      a fetch() to .../attempt/<pk>/scorm_data_fallback
 * ctx = {endpoint: window.datamodelurl, params: window.datamodelurlparams} when the window defines
 * them (Moodle's SCORM player does: "id=..&a=..&sesskey=..&attempt=..&scoid=.."), or
 * {endpoint: js_vars.scorm_api_data.fallback_url, params: ""} on a Numbas LTI provider attempt
 * page.
 * Values are strings; response is cut to 2000 characters.
 */
(function () {
  'use strict';

  var FLAG = '__lockdownJournalHook';
  if (Object.prototype.hasOwnProperty.call(window, FLAG)) {
    return; // injected twice into the same window
  }
  Object.defineProperty(window, FLAG, { value: true });

  // Built-ins captured now, so a page that replaces them later cannot break the hook.
  var apply = Reflect.apply;
  var define = Object.defineProperty;
  var describe = Object.getOwnPropertyDescriptor;
  var hasOwn = Object.prototype.hasOwnProperty;
  var now = Date.now.bind(Date);
  var toStr = String;
  var WRAPPED = typeof Symbol === 'function' && Symbol.for
    ? Symbol.for('lockdown.journal.wrapped') // shared by all frames: never wrap twice
    : '__lockdownJournalWrapped';
  var MAX_QUEUE = 50000;
  var MAX_RESPONSE = 2000;
  var MAX_GET_KEYS = 5000;
  var STORAGE_KEY = /^numbas-lti-attempt-\d+-scorm-data$/;
  var DATAMODEL_PATH = /\/mod\/scorm\/datamodel\.php$/;
  var FALLBACK_PATH = /\/attempt\/\d+\/scorm_data_fallback\/?$/;
  var SCORM = {
    API_1484_11: { api: 'scorm2004', set: 'SetValue', commit: 'Commit', get: 'GetValue' },
    API: { api: 'scorm12', set: 'LMSSetValue', commit: 'LMSCommit', get: 'LMSGetValue' }
  };

  var page = (function () {
    try {
      var bytes = new Uint32Array(4);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (n) { return n.toString(36); }).join('');
    } catch (e) {
      return toStr(Math.random()).slice(2) + now().toString(36);
    }
  })();
  var seq = 0;
  var queue = [];
  var recorder = null;
  var setKeys = {};
  var getKeys = {};
  var getCount = 0;

  // -- delivery ---------------------------------------------------------------------------------
  function base(type) {
    seq += 1;
    var href = '';
    try { href = toStr(window.location.href); } catch (e) { /* detached */ }
    return { type: type, page: page, seq: seq, time: now(), url: href };
  }

  function currentRecorder() {
    if (recorder) { return recorder; }
    try {
      var fn = window.__lockdownRecord;
      return typeof fn === 'function' ? fn : null;
    } catch (e) {
      return null;
    }
  }

  function flush(fn) {
    while (queue.length) {
      var next = queue.shift();
      try { fn(next); } catch (e) { /* a failing bridge must not hurt the page */ }
    }
  }

  function deliver(entry) {
    try {
      var fn = currentRecorder();
      if (fn) {
        flush(fn);
        fn(entry);
      } else if (queue.length < MAX_QUEUE) {
        queue.push(entry);
      }
    } catch (e) { /* never throw into the page */ }
  }

  (function watchRecorder() {
    try {
      var existing = describe(window, '__lockdownRecord');
      if (existing && !existing.configurable) { return; }
      if (existing && typeof existing.value === 'function') { recorder = existing.value; }
      define(window, '__lockdownRecord', {
        configurable: true,
        enumerable: false,
        get: function () { return recorder; },
        set: function (fn) {
          recorder = typeof fn === 'function' ? fn : null;
          if (recorder) { flush(recorder); }
        }
      });
    } catch (e) { /* the bridge may define it its own way; deliver() looks it up each time */ }
  })();

  function addContext(entry) {
    try {
      var endpoint = window.datamodelurl;
      var params = window.datamodelurlparams;
      if (typeof endpoint === 'string' && typeof params === 'string') {
        entry.ctx = { endpoint: endpoint, params: params }; // Moodle's SCORM player
        return entry;
      }
      var data = window.js_vars && window.js_vars.scorm_api_data;
      if (data && typeof data.fallback_url === 'string') {
        entry.ctx = { endpoint: data.fallback_url, params: '' }; // Numbas LTI provider
      }
    } catch (e) { /* no known player globals here */ }
    return entry;
  }

  function text(value) {
    return typeof value === 'string' ? value : toStr(value);
  }

  // -- SCORM API objects ------------------------------------------------------------------------
  function wrapSet(original, spec) {
    return function (key, value) {
      var entry = null;
      try {
        entry = addContext(base('set'));
        entry.api = spec.api;
        entry.key = text(key);
        entry.value = text(value);
        setKeys[entry.key] = true;
        deliver(entry);
      } catch (e) {
        entry = null;
      }
      var threw = true;
      var result;
      try {
        result = apply(original, this, arguments);
        threw = false;
      } finally {
        try {
          if (entry && (threw || result === false || result === 'false')) {
            var rejected = base('rejected');
            rejected.api = spec.api;
            rejected.ref = entry.seq;
            deliver(rejected);
          }
        } catch (e) { /* ignore */ }
      }
      return result;
    };
  }

  function wrapCommit(original, spec) {
    return function () {
      try {
        var entry = addContext(base('commit'));
        entry.api = spec.api;
        deliver(entry);
      } catch (e) { /* ignore */ }
      return apply(original, this, arguments);
    };
  }

  function wrapGet(original, spec) {
    return function (key) {
      var result = apply(original, this, arguments);
      try {
        var name = text(key);
        if (!setKeys[name] && !getKeys[name] && getCount < MAX_GET_KEYS) {
          getKeys[name] = true;
          getCount += 1;
          var entry = addContext(base('get'));
          entry.api = spec.api;
          entry.key = name;
          entry.value = text(result);
          deliver(entry);
        }
      } catch (e) { /* ignore */ }
      return result;
    };
  }

  function replaceMethod(obj, name, wrapper) {
    var original = obj[name];
    if (typeof original !== 'function' || original[WRAPPED]) { return true; }
    var fn = wrapper(original);
    try { define(fn, WRAPPED, { value: original }); } catch (e) { /* ignore */ }
    var own = describe(obj, name);
    try {
      define(obj, name, {
        value: fn,
        writable: own ? own.writable !== false : true,
        enumerable: own ? !!own.enumerable : false,
        configurable: true
      });
      return true;
    } catch (e) {
      return false; // frozen object or non-configurable method: use a proxy instead
    }
  }

  function wrapApi(obj, spec) {
    try {
      if (!obj || (typeof obj !== 'object' && typeof obj !== 'function')) { return obj; }
      var wrappers = {};
      wrappers[spec.set] = function (o) { return wrapSet(o, spec); };
      wrappers[spec.commit] = function (o) { return wrapCommit(o, spec); };
      wrappers[spec.get] = function (o) { return wrapGet(o, spec); };
      var failed = [];
      for (var name in wrappers) {
        if (hasOwn.call(wrappers, name) && !replaceMethod(obj, name, wrappers[name])) {
          failed.push(name);
        }
      }
      if (!failed.length) { return obj; }
      // A frozen object cannot be changed, and a Proxy must return its frozen methods as they
      // are; so the page gets an object inheriting from the original with wrapped own methods.
      var shell = Object.create(obj);
      for (var i = 0; i < failed.length; i += 1) {
        var original = obj[failed[i]];
        var fn = wrappers[failed[i]](original);
        define(fn, WRAPPED, { value: original });
        define(shell, failed[i], {
          value: fn, writable: true, enumerable: true, configurable: true
        });
      }
      return shell;
    } catch (e) {
      return obj;
    }
  }

  function watchApi(name) {
    var spec = SCORM[name];
    try {
      var existing = describe(window, name);
      if (existing && !existing.configurable) {
        wrapApi(window[name], spec); // cannot intercept later assignments; wrap what is there
        return;
      }
      var current = existing ? wrapApi(existing.value, spec) : undefined;
      define(window, name, {
        configurable: true,
        enumerable: true,
        get: function () { return current; },
        set: function (value) { current = wrapApi(value, spec); }
      });
    } catch (e) { /* leave the page alone */ }
  }

  watchApi('API_1484_11');
  watchApi('API');

  // -- Numbas LTI provider localStorage ---------------------------------------------------------
  (function watchStorage() {
    try {
      var proto = window.Storage && window.Storage.prototype;
      var original = proto && proto.setItem;
      if (typeof original !== 'function' || original[WRAPPED]) { return; }
      var wrapped = function setItem(key, value) {
        try {
          var name = text(key);
          if (STORAGE_KEY.test(name) && this === window.localStorage) {
            var entry = base('storage');
            entry.key = name;
            entry.value = text(value);
            deliver(entry);
          }
        } catch (e) { /* sandboxed frames throw on localStorage access */ }
        return apply(original, this, arguments);
      };
      define(wrapped, WRAPPED, { value: original });
      var own = describe(proto, 'setItem');
      define(proto, 'setItem', {
        value: wrapped,
        writable: own ? own.writable !== false : true,
        enumerable: own ? !!own.enumerable : true,
        configurable: true
      });
    } catch (e) { /* leave storage alone */ }
  })();

  // -- Moodle datamodel.php POSTs ---------------------------------------------------------------
  function absolute(url) {
    try {
      return new URL(toStr(url), document.baseURI).href;
    } catch (e) {
      return '';
    }
  }

  function pathOf(url) {
    try { return new URL(url).pathname; } catch (e) { return ''; }
  }

  (function watchXhr() {
    try {
      var proto = window.XMLHttpRequest && window.XMLHttpRequest.prototype;
      if (!proto || typeof proto.open !== 'function' || proto.open[WRAPPED]) { return; }
      var originalOpen = proto.open;
      var originalSend = proto.send;
      var saves = new WeakMap();

      function report(xhr, meta) {
        try {
          var entry = base('save-result');
          entry.endpoint = meta.url;
          entry.body = meta.body;
          entry.status = xhr.status || 0;
          var answer = '';
          try {
            if (xhr.responseType === '' || xhr.responseType === 'text') {
              answer = toStr(xhr.responseText || '').slice(0, MAX_RESPONSE);
            }
          } catch (e) { /* response not readable */ }
          entry.response = answer;
          deliver(entry);
        } catch (e) { /* ignore */ }
      }

      var open = function open(method, url) {
        try {
          var target = absolute(url);
          if (toStr(method).toUpperCase() === 'POST' && DATAMODEL_PATH.test(pathOf(target))) {
            saves.set(this, { url: target, isAsync: arguments.length < 3 || !!arguments[2] });
          } else {
            saves.delete(this);
          }
        } catch (e) { /* ignore */ }
        return apply(originalOpen, this, arguments);
      };
      var send = function send(body) {
        var meta = null;
        try {
          meta = saves.get(this) || null;
          if (meta) {
            meta.body = typeof body === 'string' ? body : '';
            var entry = base('save-request');
            entry.endpoint = meta.url;
            entry.body = meta.body;
            deliver(entry);
            if (meta.isAsync) {
              var xhr = this;
              var done = meta;
              xhr.addEventListener('loadend', function () { report(xhr, done); });
            }
          }
        } catch (e) {
          meta = null;
        }
        if (!meta || meta.isAsync) {
          return apply(originalSend, this, arguments);
        }
        try {
          return apply(originalSend, this, arguments); // synchronous: Moodle's DoRequest
        } finally {
          report(this, meta);
        }
      };
      define(open, WRAPPED, { value: originalOpen });
      define(send, WRAPPED, { value: originalSend });
      define(proto, 'open', { value: open, writable: true, enumerable: true, configurable: true });
      define(proto, 'send', { value: send, writable: true, enumerable: true, configurable: true });
    } catch (e) { /* leave XHR alone */ }
  })();

  // -- Numbas provider HTTP fallback URL --------------------------------------------------------
  (function watchFetch() {
    try {
      var original = window.fetch;
      if (typeof original !== 'function' || original[WRAPPED]) { return; }
      var seen = {};
      var wrapped = function fetch(input) {
        try {
          var raw = input && typeof input === 'object' && 'url' in input ? input.url : input;
          var target = absolute(raw);
          if (target && !seen[target] && FALLBACK_PATH.test(pathOf(target))) {
            seen[target] = true;
            var entry = base('save-context');
            entry.endpoint = target;
            deliver(entry);
          }
        } catch (e) { /* ignore */ }
        return apply(original, this, arguments);
      };
      define(wrapped, WRAPPED, { value: original });
      define(window, 'fetch', {
        value: wrapped, writable: true, enumerable: true, configurable: true
      });
    } catch (e) { /* leave fetch alone */ }
  })();
})();
